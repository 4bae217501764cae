"""Assessment: indicators rolled up per unit and person and period, schemes, scores and rankings."""
