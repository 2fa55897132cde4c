"""Event schema: fields, types, validation and normalisation of one event.

A :class:`Schema` is a list of :class:`Field` declarations. The default
loan-application schema, :data:`DEFAULT_SCHEMA`, is just one such declaration;
users can write their own in Python or TOML (:meth:`Schema.from_toml`).

Validation turns a raw event (any mapping) into a *normalised event*: a plain
``dict`` holding every schema field (``None`` when missing) and the extra
fields, with

* timestamps as ``int`` epoch milliseconds (see :mod:`fraudscore.timeutil`),
* numbers as ``float`` (``int`` fields as integral floats), finite and in bounds,
* strings stripped of surrounding whitespace (an empty string is missing),
* categories (type ``category``) as text too: integers and whole floats become
  their decimal text (``12`` and ``12.0`` -> ``"12"``), booleans ``"true"`` /
  ``"false"``; they reach the model through a vocabulary learnt at training
  (:mod:`fraudscore.categories`),
* booleans as ``bool``, the nested ``device`` mapping as a ``dict``.

Any malformed value raises :class:`~fraudscore.errors.EventError` naming the
field and the value's type (never the value: it may be a raw identifier).

Field by field, the default loan-application schema:

===============  ===========  ========  =========================================
field            type         required  meaning
===============  ===========  ========  =========================================
application_id   str          yes       the lender's id of this application
ts               timestamp    yes       when it was submitted (UTC)
applicant_id     str          no        national ID number (identifier, entity)
phone            str          no        mobile number (identifier, entity)
email            str          no        e-mail address (identifier, entity)
bank_card        str          no        card / account number (identifier, entity)
ip               str          no        client IP address (identifier, entity)
device           mapping      no        device attributes sent by the app or page
amount           float        no        amount applied for, >= 0
term_months      int          no        loan term in months, 1..360
product          str          no        product code
channel          str          no        ``app``, ``web``, ``h5``, ``partner``...
inviter_id       str          no        applicant id of the inviter (identifier)
===============  ===========  ========  =========================================

Examples
--------
>>> ev = DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": "2026-11-29T10:00:00Z",
...                               "amount": 5000, "phone": " +8613800138000 "})
>>> ev["ts"], ev["amount"], ev["phone"], ev["email"]
(1795946400000, 5000.0, '+8613800138000', None)
>>> DEFAULT_SCHEMA.validate({"application_id": "A1", "ts": 1795946400, "amount": "lots"})
Traceback (most recent call last):
...
fraudscore.errors.EventError: field 'amount': must be a finite number (got str)
"""

from __future__ import annotations

import math
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ._checkers import compile_check as _compile
from .errors import ConfigError, EventError
from ._checkers import compiled_validator as _validator
from ._checkers import mapping_check  # noqa: F401 (part of this module's API, used by batch)
from .limits import MAX_DEVICE_ATTRIBUTES, MAX_EVENT_FIELDS, MAX_LIST_LEN, MAX_NAME_LEN, MAX_STR_LEN
from .timeutil import to_epoch_ms
from .values import _PLAIN, EXTRA_FIELD, _check_mapping, _finite_number, _is_missing, _valid_text
from .values import check_extra, extra_name_ok  # noqa: F401 (part of this module's API, used by batch)

__all__ = ["Field", "Schema", "DEFAULT_SCHEMA", "FieldType", "IdentifierKind", "compile_check", "check_extra",
           "EXTRA_FIELD", "EVENT"]

FieldType = Literal["str", "float", "int", "bool", "timestamp", "mapping", "category"]
IdentifierKind = Literal["national_id", "phone", "email", "bank_card", "ip", "device_id", "generic"]

_FIELD_TYPES = ("str", "float", "int", "bool", "timestamp", "mapping", "category")
_ID_KINDS = ("national_id", "phone", "email", "bank_card", "ip", "device_id", "generic")
_SCALARS = (str, int, float, bool)
MAX_MAPPING_KEYS = MAX_DEVICE_ATTRIBUTES
EVENT = "event"


@dataclass(frozen=True)
class Field:
    """Declaration of one event field.

    Parameters
    ----------
    name : str
        Field name in the event (a valid identifier, not starting with ``_``).
    type : {"str", "float", "int", "bool", "timestamp", "mapping", "category"}
        Expected type after normalisation. ``category``: a value from a small set
        (browser, traffic source, state), given to the model as a LightGBM
        categorical feature ``<name>__category`` through a vocabulary learnt at
        training; unseen values share one "other" code (:mod:`fraudscore.categories`).
    required : bool, default False
        A missing required field is an error; a missing optional one is ``None``
        (and ``NaN`` in the model's input).
    identifier : {"national_id", "phone", "email", "bank_card", "ip", "device_id", "generic"}, optional
        Marks personal identifiers: they are normalised and replaced by keyed
        pseudonyms (:mod:`fraudscore.identity`) before reaching any store, log or file.
        ``national_id`` expects a Chinese resident ID number (checksum, age and
        gender features); use ``generic`` for any other customer or account id.
        ``device_id`` is a plain device identifier (no attribute mapping): its
        pseudonym is the record's ``device_id`` directly, for the device velocity
        features, without fingerprinting or linking.
    entity : bool, default False
        The field can key velocity features (:mod:`fraudscore.velocity`).
    minimum, maximum : float, optional
        Inclusive bounds for numeric fields.
    description : str
        Human-readable meaning, used in docs.

    Examples
    --------
    >>> Field("amount", "float", minimum=0).check("amount", 12)
    12.0
    """

    name: str
    type: FieldType
    required: bool = False
    identifier: IdentifierKind | None = None
    entity: bool = False
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier() or self.name.startswith("_"):
            raise ConfigError(
                f"The 'name' parameter of Field must be an identifier not starting with '_'. "
                f"Got {self.name!r} instead."
            )
        if self.type not in _FIELD_TYPES:
            raise ConfigError(
                f"The 'type' parameter of Field {self.name!r} must be one of {_FIELD_TYPES}. "
                f"Got {self.type!r} instead."
            )
        if self.identifier is not None and self.identifier not in _ID_KINDS:
            raise ConfigError(
                f"The 'identifier' parameter of Field {self.name!r} must be one of {_ID_KINDS}. "
                f"Got {self.identifier!r} instead."
            )
        if self.identifier is not None and self.type == "category":
            raise ConfigError(
                f"Field {self.name!r} cannot be both an identifier and a 'category': identifiers are pseudonymised "
                "and their values must never be kept in a vocabulary. Use type 'str' (velocity keys still work)."
            )
        if self.identifier is not None and self.type != "str":
            raise ConfigError(f"Identifier field {self.name!r} must have type 'str'. Got {self.type!r}.")
        # interned: a validated event's keys are then the very objects the compiled stages look up (a pointer
        # compare per dict lookup instead of a string compare); equal names, so nothing observable changes
        object.__setattr__(self, "name", sys.intern(self.name))

    # -- scalar validation: the one definition of what a valid value is ---------
    def check(self, name: str, value: Any) -> Any:
        """Validate and normalise one non-missing value; raise EventError naming ``name``."""
        t = self.type
        if t == "str":
            if isinstance(value, str):
                s = value.strip()
            elif isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
                if int(value).bit_length() > 4 * MAX_STR_LEN:  # certainly too many digits: never str() it
                    raise EventError(name, f"must be at most {MAX_STR_LEN} characters", value=value)
                s = str(int(value))
            else:
                raise EventError(name, "must be a string", value=value)
            if len(s) > MAX_STR_LEN:
                raise EventError(name, f"must be at most {MAX_STR_LEN} characters", value=value)
            _valid_text(name, s, value)
            return s if s else None
        if t == "category":
            if isinstance(value, str):
                s = value.strip()
            elif isinstance(value, (bool, np.bool_)):
                s = "true" if value else "false"
            elif isinstance(value, (int, np.integer)):
                if int(value).bit_length() > 4 * MAX_STR_LEN:  # certainly too many digits: never str() it
                    raise EventError(name, f"must be at most {MAX_STR_LEN} characters", value=value)
                s = str(int(value))
            elif isinstance(value, (float, np.floating)) and math.isfinite(float(value)):
                f = float(value)
                s = str(int(f)) if f.is_integer() else repr(f)
            else:
                raise EventError(name, "must be a category (text or a number)", value=value)
            if len(s) > MAX_STR_LEN:
                raise EventError(name, f"must be at most {MAX_STR_LEN} characters", value=value)
            _valid_text(name, s, value)  # no NUL, no lone surrogates (a vocabulary is saved as UTF-8 JSON)
            return s if s else None
        if t in ("float", "int"):
            if isinstance(value, (bool, np.bool_)) or not isinstance(
                value, (int, float, np.integer, np.floating)
            ):
                raise EventError(name, "must be a finite number", value=value)
            f = _finite_number(name, value)
            if t == "int" and not f.is_integer():
                raise EventError(name, "must be a whole number", value=value)
            if self.minimum is not None and f < self.minimum:
                raise EventError(name, f"must be >= {self.minimum:g}", value=value)
            if self.maximum is not None and f > self.maximum:
                raise EventError(name, f"must be <= {self.maximum:g}", value=value)
            return f
        if t == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            if isinstance(value, (int, np.integer)) and int(value) in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
                return value.strip().lower() in ("true", "1")
            raise EventError(name, "must be a boolean", value=value)
        if t == "timestamp":
            try:
                return to_epoch_ms(value)
            except (TypeError, ValueError) as exc:
                raise EventError(name, str(exc), value=value) from None
            except (OverflowError, OSError):
                raise EventError(name, "must be between 1971-01-01 and 2199-12-31", value=value) from None
        # mapping
        return _check_mapping(name, value)


def compile_check(f: Field) -> Callable[[Any], Any]:
    """A checker specialised to ``f``: same results and errors as ``f.check(f.name, value)``.

    Exact built-in types (``str``, ``float``, ``int``, ``bool``, ``dict``) take a
    fast path; anything else, and every error, goes through :meth:`Field.check`.

    Examples
    --------
    >>> c = compile_check(Field("term", "int", minimum=1, maximum=360))
    >>> c(12), c(12.0)
    (12.0, 12.0)
    >>> c(0)
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: field 'term': must be >= 1 (got int)
    """
    return _compile(f, MAX_STR_LEN, MAX_MAPPING_KEYS, MAX_LIST_LEN)


@dataclass(frozen=True)
class Schema:
    """An event schema: an ordered tuple of :class:`Field` plus two roles.

    Parameters
    ----------
    fields : tuple of Field
        The declared fields.
    id_field : str, default "application_id"
        The field that identifies an event (labels refer to it).
    time_field : str, default "ts"
        The event-time field (must have type ``timestamp``).
    allow_extra : bool, default True
        Keep undeclared fields (scalars only) so rules can use them.
    protected : tuple of str, optional
        Fields holding protected characteristics (sex, age, ethnicity...): every
        model input derived from them is kept out of trained models (rules may
        still read them). Without a list, features named ``age``, ``gender``
        or ``sex`` are kept out by name (see
        :meth:`fraudscore.pipeline.FeaturePipeline.protected_features`).

    Examples
    --------
    >>> s = Schema((Field("id", "str", required=True), Field("at", "timestamp", required=True),
    ...             Field("value", "float")), id_field="id", time_field="at")
    >>> s.validate({"id": 7, "at": 0.5e12})["id"]
    '7'
    >>> s.validate({"at": 0.5e12})
    Traceback (most recent call last):
    ...
    fraudscore.errors.EventError: field 'id': is required
    """

    fields: tuple[Field, ...]
    id_field: str = "application_id"
    time_field: str = "ts"
    allow_extra: bool = True
    protected: tuple[str, ...] | None = None
    _by_name: dict[str, Field] = field(init=False, repr=False, compare=False)
    _plan: tuple[tuple[str, bool, bool, Callable[[Any], Any]], ...] = field(init=False, repr=False, compare=False)
    _fast: Any = field(init=False, repr=False, compare=False)  # the compiled fast path (_core/schema.c) or None

    def __post_init__(self) -> None:
        for role in ("id_field", "time_field"):  # interned, as Field names are
            if isinstance(getattr(self, role), str):
                object.__setattr__(self, role, sys.intern(getattr(self, role)))
        by_name: dict[str, Field] = {}
        for f in self.fields:
            if not isinstance(f, Field):
                raise ConfigError(f"Schema fields must be Field objects. Got {type(f).__name__}.")
            if f.name in by_name:
                raise ConfigError(f"Schema declares field {f.name!r} twice.")
            by_name[f.name] = f
        for role, name, typ in (("id_field", self.id_field, "str"), ("time_field", self.time_field, "timestamp")):
            if name not in by_name or by_name[name].type != typ or not by_name[name].required:
                raise ConfigError(
                    f"The '{role}' parameter of Schema must name a required {typ!r} field. "
                    f"Got {name!r} instead."
                )
        for alias, role in (("ts", "time_field"), ("application_id", "id_field")):
            if alias in by_name and getattr(self, role) != alias:
                raise ConfigError(f"A field named {alias!r} must be the schema's {role}: rename the field, or "
                                  f"set {role} = {alias!r}.")
        dev_ids = [f.name for f in self.fields if f.identifier == "device_id"]
        if len(dev_ids) > 1 or (dev_ids and "device" in by_name and by_name["device"].type == "mapping"):
            raise ConfigError("A schema has at most one device: either a 'device' mapping of attributes or one "
                              f"field with identifier = 'device_id'. Got {dev_ids + (['device'] if 'device' in by_name else [])}.")
        if dev_ids and dev_ids[0] != "device_id" and "device_id" in by_name:
            raise ConfigError(f"Field {dev_ids[0]!r} is the plain device id (identifier = 'device_id'), so no other "
                              "field may be named 'device_id'.")
        if self.protected is not None:
            if isinstance(self.protected, str) or not all(isinstance(p, str) for p in self.protected):
                raise ConfigError(f"The 'protected' parameter of Schema must be a list of field names. "
                                  f"Got {self.protected!r} instead.")
            unknown = [p for p in self.protected if p not in by_name]
            if unknown:
                raise ConfigError(f"The 'protected' parameter of Schema names unknown fields {unknown}. "
                                  f"Fields: {', '.join(by_name)}.")
            object.__setattr__(self, "protected", tuple(self.protected))
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_plan", tuple((f.name, f.required, f.type in ("str", "category"), compile_check(f))
                                                for f in self.fields))
        object.__setattr__(self, "_fast", _validator(self._plan, self.fields))

    # -- introspection -------------------------------------------------------
    def __getitem__(self, name: str) -> Field:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> tuple[str, ...]:
        """Declared field names, in order."""
        return tuple(f.name for f in self.fields)

    @property
    def identifiers(self) -> dict[str, str]:
        """``{field name: identifier kind}`` for the personal-identifier fields."""
        return {f.name: f.identifier for f in self.fields if f.identifier is not None}

    @property
    def entities(self) -> tuple[str, ...]:
        """Fields usable as velocity entity keys."""
        return tuple(f.name for f in self.fields if f.entity)

    # -- validation ----------------------------------------------------------
    def validate(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and normalise one event.

        Parameters
        ----------
        event : Mapping
            The raw event.

        Returns
        -------
        dict
            Every declared field (``None`` when missing) plus extra fields.

        Raises
        ------
        EventError
            Naming the first offending field.
        """
        fast = self._fast
        if fast is not None:  # the compiled fast path; None: not on it (the reference below decides and raises)
            hit = fast.validate(event)
            if hit is not None:
                out, extra = hit
                if extra:
                    self._extras(event, out)
                return out  # type: ignore[no-any-return]
        if type(event) is not dict and not isinstance(event, Mapping):
            raise EventError(EVENT, "must be a mapping of field names to values", value=event)
        if len(event) > MAX_EVENT_FIELDS:
            raise EventError(EVENT, f"must have at most {MAX_EVENT_FIELDS} fields")
        out: dict[str, Any] = {}
        get = event.get
        plain = _PLAIN
        for name, required, is_str, check in self._plan:
            value = get(name)
            tv = type(value)
            if tv is str and is_str:  # the commonest case, inline
                v = value.strip()
                if len(v) > MAX_STR_LEN or "\x00" in v or not v.isascii():
                    v = check(value)  # raises the proper error, or checks non-ASCII text
                elif not v:
                    v = None
            elif value is None or (value != value if tv is float else tv not in plain and _is_missing(value)):
                if required:
                    raise EventError(name, "is required")
                out[name] = None
                continue
            else:
                v = check(value)
            if v is None and required:
                raise EventError(name, "is required and must not be empty")
            out[name] = v
        if not self._by_name.keys() >= event.keys():
            self._extras(event, out)
        return out

    def _extras(self, event: Mapping[str, Any], out: dict[str, Any]) -> None:
        """Validate the undeclared fields into ``out`` (see :func:`check_extra`); missing ones need no valid name."""
        by_name = self._by_name
        for k, v in event.items():
            if k in by_name:
                continue
            v = check_extra(v)
            ok = extra_name_ok(k)
            if v is None:
                if ok:
                    out[k] = None
                continue
            if not ok:
                raise EventError(EXTRA_FIELD, f"extra field names must be identifiers of at most {MAX_NAME_LEN} "
                                              "characters not starting with '_'")
            if not self.allow_extra:
                raise EventError(EXTRA_FIELD, "is not a field of this schema")
            out[k] = v

    # -- (de)serialisation ---------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in a bundle manifest.

        Examples
        --------
        >>> Schema.from_dict(DEFAULT_SCHEMA.to_dict()) == DEFAULT_SCHEMA
        True
        """
        out: dict[str, Any] = {
            "id_field": self.id_field,
            "time_field": self.time_field,
            "allow_extra": self.allow_extra,
            "fields": [{k: v for k, v in asdict(f).items() if v is not None and v is not False and v != ""} for f in self.fields],
        }
        if self.protected is not None:
            out["protected"] = list(self.protected)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        """Build a schema from :meth:`to_dict` output or a parsed TOML document."""
        try:
            raw_fields = data["fields"]
        except (KeyError, TypeError):
            raise ConfigError("A schema needs a 'fields' list.") from None
        fields = []
        for i, spec in enumerate(raw_fields):
            if not isinstance(spec, Mapping) or "name" not in spec or "type" not in spec:
                raise ConfigError(f"Schema field #{i} needs at least 'name' and 'type'. Got {spec!r}.")
            unknown = set(spec) - {f for f in Field.__dataclass_fields__}
            if unknown:
                raise ConfigError(f"Schema field {spec['name']!r} has unknown keys {sorted(unknown)}.")
            fields.append(Field(**spec))
        unknown_top = set(data) - {"fields", "id_field", "time_field", "allow_extra", "protected"}
        if unknown_top:
            raise ConfigError(f"A schema has unknown keys {sorted(unknown_top)}; known: fields, id_field, "
                              "time_field, allow_extra, protected.")
        protected = data.get("protected")
        return cls(
            tuple(fields),
            id_field=data.get("id_field", "application_id"),
            time_field=data.get("time_field", "ts"),
            allow_extra=bool(data.get("allow_extra", True)),
            protected=None if protected is None else tuple(protected) if isinstance(protected, list) else protected,
        )

    def to_toml(self) -> str:
        """The schema as TOML text, readable by :meth:`from_toml`.

        Examples
        --------
        >>> Schema.from_toml(DEFAULT_SCHEMA.to_toml()) == DEFAULT_SCHEMA
        True
        """
        d = self.to_dict()
        lines = [f"id_field = {_toml_value(d['id_field'])}", f"time_field = {_toml_value(d['time_field'])}",
                 f"allow_extra = {_toml_value(d['allow_extra'])}"]
        if "protected" in d:
            lines.append(f"protected = {_toml_value(d['protected'])}")
        for f in d["fields"]:
            lines += ["", "[[fields]]"] + [f"{k} = {_toml_value(v)}" for k, v in f.items()]
        return "\n".join(lines) + "\n"

    @classmethod
    def infer(cls, table: Any, *, id_field: str | None = None, time_field: str | None = None,
              label: str | None = None) -> Schema:
        """Propose a schema for a table you already have (see :func:`fraudscore.infer.infer_schema`).

        Examples
        --------
        >>> s = Schema.infer({"order_id": ["a", "b"], "at": ["2026-01-01 10:00", "2026-01-02 11:00"],
        ...                   "buyer_id": ["u1", "u1"], "amount": [5.0, 7.5], "is_fraud": [0, 1]})
        >>> s.id_field, s.time_field, s["buyer_id"].identifier, s["amount"].type
        ('order_id', 'at', 'generic', 'float')
        """
        from .infer import infer_schema

        return infer_schema(table, id_field=id_field, time_field=time_field, label=label)

    @classmethod
    def from_toml(cls, source: str | Path) -> Schema:
        """Read a schema from a TOML file path or TOML text.

        The document holds ``id_field``, ``time_field``, ``allow_extra``,
        optionally ``protected`` (a list of field names) and an array of tables
        ``[[fields]]`` with the :class:`Field` parameters.

        Examples
        --------
        >>> s = Schema.from_toml('''
        ... id_field = "order"
        ... time_field = "at"
        ... [[fields]]
        ... name = "order"
        ... type = "str"
        ... required = true
        ... [[fields]]
        ... name = "at"
        ... type = "timestamp"
        ... required = true
        ... [[fields]]
        ... name = "buyer"
        ... type = "str"
        ... identifier = "generic"
        ... entity = true
        ... ''')
        >>> s.entities, s.identifiers
        (('buyer',), {'buyer': 'generic'})
        """
        if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and source.endswith(".toml")):
            text = Path(source).read_text(encoding="utf-8")
        else:
            text = str(source)
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"Schema TOML does not parse: {exc}") from None
        return cls.from_dict(data)


def _toml_value(v: Any) -> str:
    import json

    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string


DEFAULT_SCHEMA = Schema(
    (
        Field("application_id", "str", required=True, description="The lender's id of this application."),
        Field("ts", "timestamp", required=True, description="Submission time, UTC."),
        Field("applicant_id", "str", identifier="national_id", entity=True,
              description="National (resident) ID number of the applicant."),
        Field("phone", "str", identifier="phone", entity=True, description="Mobile phone number."),
        Field("email", "str", identifier="email", entity=True, description="E-mail address."),
        Field("bank_card", "str", identifier="bank_card", entity=True,
              description="Bank card or account number for disbursement."),
        Field("ip", "str", identifier="ip", entity=True, description="Client IP address."),
        Field("device", "mapping", description="Device attributes from the app or web page."),
        Field("amount", "float", minimum=0, maximum=1e9, description="Amount applied for."),
        Field("term_months", "int", minimum=1, maximum=360, description="Loan term in months."),
        Field("product", "str", description="Product code."),
        Field("channel", "str", description="Application channel (app, web, h5, partner...)."),
        Field("inviter_id", "str", identifier="national_id", entity=True,
              description="Applicant ID of the inviting user, for referral programmes."),
    )
)
"""The default loan-application schema (see the module docstring)."""
