"""Every table's model, imported in one place so Alembic sees the whole schema."""

from __future__ import annotations

from sqlalchemy import MetaData

from linkhop.api_keys import models as api_keys_models
from linkhop.audit import models as audit_models
from linkhop.auth import models as auth_models
from linkhop.db.base import Base
from linkhop.domains import models as domains_models
from linkhop.invites import models as invites_models
from linkhop.links import models as links_models
from linkhop.orgs import models as orgs_models
from linkhop.tags import models as tags_models

MODEL_MODULES = (
    api_keys_models,
    audit_models,
    auth_models,
    domains_models,
    invites_models,
    links_models,
    orgs_models,
    tags_models,
)

metadata: MetaData = Base.metadata
