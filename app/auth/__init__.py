"""Accounts and roles, login sessions, CSRF protection and API tokens.

Importing this package registers its tables (``app.auth.models``) on the archive's metadata.
"""

from __future__ import annotations

from app.auth import models as models
from app.auth.models import ApiToken, AuditLog, ProductionOwner, Role, Upload, User

__all__ = ["ApiToken", "AuditLog", "ProductionOwner", "Role", "Upload", "User", "models"]
