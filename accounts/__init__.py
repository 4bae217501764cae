"""Users, roles, jurisdictions, API tokens, the audit log and personal-data protection."""
