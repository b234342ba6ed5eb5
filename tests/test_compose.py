"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

No test here starts a container. What they catch is what would otherwise surface only on a
user's machine: a file Compose rejects, a container that runs a command or reads a variable
loopwatch does not have, an image whose build misses a file, a broker address that leads nowhere.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from loopwatch.cli import _parser
from loopwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PYPROJECT = ROOT / "pyproject.toml"
# The official Compose Specification schema; see SOURCE.md beside it for where it came from.
SCHEMA = ROOT / "tests" / "data" / "compose-spec" / "compose-spec.json"

Service = dict[str, Any]


def _load_compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict), "docker-compose.yml is not a mapping"
    return doc


def _services() -> dict[str, Service]:
    services: dict[str, Service] = _load_compose()["services"]
    return services


def _loopwatch_services() -> dict[str, Service]:
    """Services that run the loopwatch image: those that build it, and those naming its tag."""
    services = _services()
    built = {s["image"] for s in services.values() if "build" in s and "image" in s}
    return {name: s for name, s in services.items() if "build" in s or s.get("image") in built}


# --- the Dockerfile -------------------------------------------------------------------------


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, args in _dockerfile():
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, args))
    return stages


def _exec_form(keyword: str) -> list[str]:
    """The final stage's ENTRYPOINT or CMD, which must be in exec (JSON) form."""
    values = [args for kw, args in _stages()[-1] if kw == keyword]
    assert values, f"the Dockerfile's final stage has no {keyword}"
    parsed = json.loads(values[-1])
    assert isinstance(parsed, list), f"{keyword} is not in exec form: {values[-1]}"
    return [str(part) for part in parsed]


def _argv(value: str | list[str]) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def _container_argv(service: Service) -> list[str]:
    """What the container runs, by Docker's rules: a service's ``entrypoint`` replaces the
    image's and drops the image's CMD; its ``command`` replaces the CMD."""
    if "entrypoint" in service:
        entrypoint, default_cmd = _argv(service["entrypoint"]), []
    else:
        entrypoint, default_cmd = _exec_form("ENTRYPOINT"), _exec_form("CMD")
    command = _argv(service["command"]) if "command" in service else default_cmd
    return entrypoint + command


def _subcommands(parser: argparse.ArgumentParser) -> set[str]:
    return {
        name
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
        for name in action.choices
    }


def _environment(service: Service) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` / ``${VAR-default}`` as seen with VAR unset."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?-([^}]*))?\}", lambda m: m[1] or "", value)


# --- Compose Specification ------------------------------------------------------------------


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def test_compose_file_matches_the_compose_specification() -> None:
    assert _schema_errors(_load_compose()) == []


def test_the_schema_rejects_a_misspelt_key() -> None:
    # Guards the test above: a schema that accepted anything would pass every file.
    doc = _load_compose()
    doc["services"]["worker"]["restrat"] = "always"
    errors = _schema_errors(doc)
    assert len(errors) == 1
    assert errors[0].startswith("services/worker: ")
    assert "restrat" in errors[0]


# --- commands and settings ------------------------------------------------------------------


def _runs() -> Iterator[Any]:
    yield pytest.param("Dockerfile CMD", _exec_form("ENTRYPOINT") + _exec_form("CMD"), id="image")
    for name, service in _loopwatch_services().items():
        yield pytest.param(f"service {name!r}", _container_argv(service), id=name)


@pytest.mark.parametrize(("what", "argv"), list(_runs()))
def test_every_loopwatch_container_runs_a_real_command(what: str, argv: list[str]) -> None:
    assert argv[:1] == ["loopwatch"], f"{what} runs {argv}, not the loopwatch command"
    parser = _parser()
    known = _subcommands(parser)
    assert len(argv) > 1, f"{what} runs bare `loopwatch`, which only prints help"
    assert argv[1] in known, (
        f"{what} runs `loopwatch {argv[1]}`, but loopwatch.cli has no command {argv[1]!r}"
        f" (it has: {', '.join(sorted(known))})"
    )
    # The options too (`ship --follow /logs`): argparse exits on anything it does not know.
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parser.parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"{what}: `{shlex.join(argv)}` is rejected by the CLI: {stderr.getvalue()}")


def _image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in _stages()[-1]:
        if keyword == "ENV":
            for word in shlex.split(args):
                key, _, value = word.partition("=")
                env[key] = value
    return env


def _environments() -> Iterator[Any]:
    yield pytest.param("the image", _image_environment(), id="image")
    for name, service in _loopwatch_services().items():
        yield pytest.param(f"service {name!r}", _environment(service), id=name)


@pytest.mark.parametrize(("what", "environment"), list(_environments()))
def test_every_loopwatch_variable_is_a_setting(
    what: str, environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = Settings.model_config.get("env_prefix", "")
    env = {k: v for k, v in environment.items() if k.startswith(prefix)}
    # Settings ignores unknown variables (extra="ignore"), so a misspelt or not-yet-implemented
    # name would be silently dropped at run time: name them here instead.
    unknown = sorted(k for k in env if k.removeprefix(prefix).lower() not in Settings.model_fields)
    assert unknown == [], f"{what} sets variables Settings does not read: {unknown}"
    # And the values, as the container sees them with nothing overridden, must validate:
    # Settings() raises ValidationError on e.g. a port that is not a number.
    for key in Settings.model_fields:
        monkeypatch.delenv(f"{prefix}{key}".upper(), raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, _interpolate(value))
    Settings()


# --- wiring between the services ------------------------------------------------------------


def test_loopwatch_reaches_kafka_at_its_advertised_listener() -> None:
    services = _services()
    kafka_env = _environment(services["kafka"])
    advertised = dict(
        item.split("://", 1) for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    host, _, port = advertised["PLAINTEXT"].rpartition(":")
    # The advertised host is what clients reconnect to after bootstrap: it must be the service.
    assert host in {"kafka", services["kafka"].get("hostname")}
    for name, service in _loopwatch_services().items():
        assert _environment(service).get("LOOPWATCH_KAFKA_BROKER") == f"{host}:{port}", name


def _listeners(value: str) -> dict[str, str]:
    """``NAME://host:port,…`` → {NAME: "host:port"}."""
    return dict(item.split("://", 1) for item in value.split(","))


def test_kafka_is_also_reachable_from_the_host() -> None:
    # `loopwatch ship` run on the host bootstraps from the published port, then reconnects to
    # the address advertised for that listener: it must be one the host resolves, on the
    # published port, and published on loopback only (the listener has no authentication).
    kafka = _services()["kafka"]
    env = _environment(kafka)
    listening = _listeners(env["KAFKA_LISTENERS"])
    advertised = _listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    host_side = [name for name, address in advertised.items() if address.startswith("localhost:")]
    assert len(host_side) == 1, advertised
    (name,) = host_side
    port = advertised[name].rpartition(":")[2]
    assert listening[name] == f":{port}"
    assert protocols[name] == "PLAINTEXT"
    assert f"127.0.0.1:{port}:{port}" in [_interpolate(str(p)) for p in kafka["ports"]]
    # The containers keep theirs: the service name, on a port that is not published.
    assert advertised["PLAINTEXT"] == "kafka:9092"
    assert set(advertised) <= set(listening) and set(listening) <= set(protocols)


def test_web_views_are_published_on_loopback_unless_configured() -> None:
    worker = _services()["worker"]
    (mapping,) = [str(p) for p in worker["ports"]]
    assert _interpolate(mapping) == "127.0.0.1:6066:6066"
    assert mapping.startswith("${WEB_PUBLISH_ADDRESS:-127.0.0.1}:"), mapping


def test_web_token_comes_from_the_shell_and_unset_means_none(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = _environment(_services()["worker"])
    assert env["LOOPWATCH_WEB_TOKEN"] == "${LOOPWATCH_WEB_TOKEN:-}"
    monkeypatch.setenv("LOOPWATCH_WEB_TOKEN", _interpolate(env["LOOPWATCH_WEB_TOKEN"]))
    assert Settings().web_token is None


def test_the_data_directory_is_a_named_volume() -> None:
    data_dir = _image_environment()["LOOPWATCH_DATA_DIR"]
    assert data_dir == "/var/lib/loopwatch"
    # The image's user owns it (its home), so a named volume mounted there is writable.
    users = [args for kw, args in _stages()[-1] if kw == "RUN" and "useradd" in args]
    assert users and f"--home-dir {data_dir}" in users[0]
    worker = _services()["worker"]
    assert "LOOPWATCH_DATA_DIR" not in _environment(worker)  # the image's value, not another
    mounts = [str(v).split(":") for v in worker.get("volumes", [])]
    named = set(_load_compose().get("volumes") or {})
    assert [source for source, target, *_ in mounts if target == data_dir and source in named]


def test_start_order_conditions_can_be_met() -> None:
    services = _services()
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            target = services[dependency]
            if spec["condition"] == "service_healthy":
                # A dependency without a probe is never healthy: compose refuses to start.
                probe = target.get("healthcheck") or {}
                assert probe.get("test") and not probe.get("disable"), (name, dependency)
            elif spec["condition"] == "service_completed_successfully":
                # A restarting one-shot never counts as completed: the dependant would wait.
                assert target.get("restart", "no") == "no", (name, dependency)
    assert services["topics"]["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert services["worker"]["depends_on"] == {
        "topics": {"condition": "service_completed_successfully"}
    }


def test_worker_probe_and_published_port_use_the_web_port() -> None:
    worker = _services()["worker"]
    env = _environment(worker)
    port = env["LOOPWATCH_WEB_PORT"]
    # Listening on the container's loopback only would make the published port a dead end.
    assert env["LOOPWATCH_WEB_HOST"] == "0.0.0.0"
    assert any(str(p).endswith(f":{port}") for p in worker["ports"]), worker["ports"]
    probe = " ".join(_argv(worker["healthcheck"]["test"]))
    assert f"http://localhost:{port}/health" in probe
    assert [args for kw, args in _stages()[-1] if kw == "EXPOSE"] == [port]


def test_third_party_images_are_pinned() -> None:
    for name, service in _services().items():
        if "build" in service:
            continue
        image = service["image"]
        _, _, tag = image.rpartition("/")[2].partition(":")
        assert tag and tag != "latest", f"service {name!r} uses an unpinned image: {image}"
    kafka_tag = _services()["kafka"]["image"].rpartition(":")[2]
    assert re.fullmatch(r"\d+\.\d+\.\d+", kafka_tag), kafka_tag


# --- the image ------------------------------------------------------------------------------


def test_entrypoint_is_the_console_script() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    main_scripts = [name for name, target in scripts.items() if target == "loopwatch.cli:main"]
    # Exec form, so the command is PID 1 and gets SIGTERM: Faust then shuts down cleanly.
    assert _exec_form("ENTRYPOINT") == main_scripts == ["loopwatch"]


def test_image_installs_the_package_without_dev_extras() -> None:
    installs = [
        args for stage in _stages() for kw, args in stage if kw == "RUN" and "pip install" in args
    ]
    assert installs, "the Dockerfile installs nothing with pip"
    for args in installs:
        words = shlex.split(args)
        assert not {"-e", "--editable"} & set(words), f"editable install in the image: {args}"
        assert not any("[" in w for w in words), f"extras installed in the image: {args}"
    assert any(shlex.split(args)[-1] == "." for args in installs), installs
    users = [args for kw, args in _stages()[-1] if kw == "USER"]
    assert users and users[-1] not in {"root", "0"}, f"the image runs as root: {users}"


def test_build_stage_copies_everything_the_package_build_reads() -> None:
    project = tomllib.loads(PYPROJECT.read_text())
    needed = {"pyproject.toml", project["project"]["readme"], "loopwatch"}
    for patterns in project["tool"]["setuptools"].get("data-files", {}).values():
        needed |= {pattern.split("/", 1)[0] for pattern in patterns}
    install_stage = next(s for s in _stages() if any("pip install" in a for _, a in s))
    copied = {
        src.rstrip("/")
        for kw, args in install_stage
        if kw == "COPY" and "--from" not in args
        for src in shlex.split(args)[:-1]
    }
    assert needed <= copied, f"the build stage does not copy {sorted(needed - copied)}"
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert not needed & ignored, f".dockerignore hides {sorted(needed & ignored)} from the build"
