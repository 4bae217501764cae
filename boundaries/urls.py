"""URLs of the grid API."""

from django.urls import path

from boundaries import api, draft_api

urlpatterns = [
    path("locate/", api.LocateApi.as_view(), name="locate"),
    path("units/", api.UnitListApi.as_view(), name="unit-list"),
    path("units/<str:code>/", api.UnitDetailApi.as_view(), name="unit-detail"),
    path("units/<str:code>/children/", api.UnitChildrenApi.as_view(), name="unit-children"),
    path("imports/boundaries/", api.BoundaryImportApi.as_view(), name="boundary-import"),
    path("imports/boundaries/<int:job_id>/", api.BoundaryImportJobApi.as_view(), name="boundary-import-job"),
    path("generations/", draft_api.GenerationListApi.as_view(), name="generation-list"),
    path("drafts/<int:draft_id>/", draft_api.DraftDetailApi.as_view(), name="draft-detail"),
    path("drafts/<int:draft_id>/edits/", draft_api.DraftEditApi.as_view(), name="draft-edits"),
    path("drafts/<int:draft_id>/undo/", draft_api.DraftUndoApi.as_view(), name="draft-undo"),
    path("drafts/<int:draft_id>/problems/", draft_api.DraftProblemsApi.as_view(), name="draft-problems"),
    path("drafts/<int:draft_id>/impact/", draft_api.DraftImpactApi.as_view(), name="draft-impact"),
    path("drafts/<int:draft_id>/activate/", draft_api.DraftActivateApi.as_view(), name="draft-activate"),
]
