"""Loading a service's settings class from the environment, and listing what it reads.

Every service has one pydantic-settings class; shared groups (Kafka, storage, observability) are
fields holding their own settings classes. `env_vars` walks that tree, so the README table, the
docker-compose and Kubernetes checks and the error messages all name the same variables.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

_S = TypeVar("_S", bound=BaseSettings)


class ConfigError(ValueError):
    """A setting is missing or malformed; the text names the environment variable."""


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str
    description: str
    secret: bool


def _settings_class(annotation: Any) -> type[BaseSettings] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseSettings):
            return candidate
    return None


def env_name(model: type[BaseModel], field: str) -> str:
    info = model.model_fields[field]
    if isinstance(info.alias, str):
        return info.alias
    prefix = str(model.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return ""
    value = info.default
    if value is PydanticUndefined or value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if hasattr(value, "get_secret_value"):
        return ""
    return str(value)


def env_vars(model: type[BaseSettings]) -> list[EnvVar]:
    """Every environment variable `model` reads, nested settings groups included, in field order
    (a group's variables where the group's field stands)."""
    found: list[EnvVar] = []
    for field, info in model.model_fields.items():
        nested = _settings_class(info.annotation)
        if nested is not None:
            found.extend(env_vars(nested))
            continue
        secret = "SecretStr" in repr(info.annotation)
        found.append(EnvVar(env_name(model, field), _default(info), info.description or "", secret))
    unique: dict[str, EnvVar] = {}
    for var in found:
        unique.setdefault(var.name, var)
    return list(unique.values())


def env_var_names(model: type[BaseSettings]) -> set[str]:
    return {var.name for var in env_vars(model)}


def _field_path(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The environment variable behind an error location (`('kafka', 'partitions')`)."""
    current: type[BaseModel] = model
    for part in loc:
        field = _field_named(current, str(part))
        if field is None:
            break
        nested = _settings_class(current.model_fields[field].annotation)
        if nested is None:
            return env_name(current, field)
        current = nested
    return current.__name__


def _field_named(model: type[BaseModel], name: str) -> str | None:
    """The field an error location part names: its own name or its alias (env name)."""
    if name in model.model_fields:
        return name
    for field, info in model.model_fields.items():
        if info.alias == name:
            return field
    return None


def _owner(model: type[BaseSettings], title: str) -> type[BaseSettings]:
    """The class (the model or a nested group) a ValidationError titled `title` came from."""
    if model.__name__ == title:
        return model
    for info in model.model_fields.values():
        nested = _settings_class(info.annotation)
        if nested is not None:
            owner = _owner(nested, title)
            if owner.__name__ == title:
                return owner
    return model


def load_settings(model: type[_S]) -> _S:
    """`model()` from the environment; a bad value is a ConfigError naming its variable."""
    try:
        return model()
    except ValidationError as exc:
        first = exc.errors()[0]
        owner = _owner(model, exc.title)
        name = _field_path(owner, first["loc"]) if first["loc"] else owner.__name__
        if first["type"] == "missing":
            raise ConfigError(f"{name} is not set") from None
        value = first.get("input")
        shown = "(set)" if "SECRET" in name or "KEY" in name else repr(value)
        raise ConfigError(f"{name}={shown}: {first['msg']}") from None
