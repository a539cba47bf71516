"""Binding PynamoDB models to the tables and endpoint named in the settings.

Table names are only known at run time (CloudFormation names them), so each model declares which
setting holds its table name and `bind_models` points it there. Call it once per process after the
settings are read (app.py does), and again whenever tests change the environment.
"""

from __future__ import annotations

from typing import ClassVar

from pynamodb.models import Model

from chalicelib.config import Settings, get_settings

_MODELS: list[type[BoundModel]] = []
_BOUND_TO: list[Settings | None] = [None]


class BoundModel(Model):
    """A model whose table comes from the settings attribute named by `table_setting`."""

    table_setting: ClassVar[str] = ""

    class Meta:
        abstract = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.table_setting:
            _MODELS.append(cls)
            _BOUND_TO[0] = None  # a model imported after a binding must be bound on the next call


def bind_models(settings: Settings | None = None) -> Settings:
    settings = settings or get_settings()
    if _BOUND_TO[0] is settings:
        return settings
    for model in _MODELS:
        model.Meta.table_name = getattr(settings, model.table_setting)
        model.Meta.region = settings.region
        model.Meta.host = settings.endpoint_url
        model._connection = None  # the cached connection holds the old table name and host
        for index in model._indexes.values():
            index.Meta.model = model
    _BOUND_TO[0] = settings
    return settings
