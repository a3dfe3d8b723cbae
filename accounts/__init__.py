"""People and their roles: users, societies, teams, memberships, API tokens, permission helpers."""
