"""The strict field check of Flow capture responses.

The Flow runtime decodes each response line with generated code that refuses unknown fields;
pydantic's models (which ignore extra fields) would let a misspelt field through that kills a
real capture. This check knows the camelCase fields a connector may send in each response and
refuses anything else, and refuses `null` anywhere (omit a field instead).
"""

# A field whose value is a JSON document of the connector's own (a schema, a config, a state):
# only its being present and non-null is checked.
DOCUMENT = "document"
# A scalar or a list of scalars: non-null.
VALUE = "value"

STATE_UPDATE = {"updated": DOCUMENT, "mergePatch": VALUE}

RESPONSES = {
    "spec": {
        "protocol": VALUE, "configSchema": DOCUMENT, "resourceConfigSchema": DOCUMENT,
        "documentationUrl": VALUE, "resourcePathPointers": VALUE,
        "oauth2": {field: VALUE for field in (
            "provider", "authUrlTemplate", "accessTokenUrlTemplate", "accessTokenMethod",
            "accessTokenBody", "accessTokenHeaders", "accessTokenResponseMap",
            "refreshTokenUrlTemplate", "refreshTokenMethod", "refreshTokenBody",
            "refreshTokenHeaders", "refreshTokenResponseMap")},
    },
    "discovered": {"bindings": [{
        "recommendedName": VALUE, "resourceConfig": DOCUMENT, "documentSchema": DOCUMENT,
        "key": VALUE, "disable": VALUE, "resourcePath": VALUE, "isFallbackKey": VALUE}]},
    "validated": {"bindings": [{"resourcePath": VALUE}]},
    "applied": {"actionDescription": VALUE, "state": STATE_UPDATE},
    "opened": {"explicitAcknowledgements": VALUE},
    "captured": {"binding": VALUE, "doc": DOCUMENT},
    "sourcedSchema": {"binding": VALUE, "documentSchema": DOCUMENT},
    "checkpoint": {"state": STATE_UPDATE},
}

REQUIRED = {"checkpoint": ["state"], "captured": ["binding", "doc"]}


def _walk(value, shape, path, problems):
    if value is None:
        problems.append(f"{path} is null (omit the field instead)")
    elif shape in (DOCUMENT, VALUE):
        return
    elif isinstance(shape, list):
        if not isinstance(value, list):
            problems.append(f"{path} is not an array")
            return
        for i, item in enumerate(value):
            _walk(item, shape[0], f"{path}[{i}]", problems)
    elif not isinstance(value, dict):
        problems.append(f"{path} is not an object")
    else:
        for field, item in value.items():
            if field not in shape:
                problems.append(f"{path}.{field} is not a field the runtime knows")
            else:
                _walk(item, shape[field], f"{path}.{field}", problems)


def check(message) -> None:
    """Raises ValueError naming every problem of one response line."""
    problems = []
    if not isinstance(message, dict) or len(message) != 1:
        raise ValueError("a response is an object with exactly one field")
    _walk(message, RESPONSES, "$", problems)
    (kind, body), = message.items()
    for field in REQUIRED.get(kind, []):
        if isinstance(body, dict) and field not in body:
            problems.append(f"$.{kind}.{field} is required")
    if problems:
        raise ValueError("; ".join(problems))
