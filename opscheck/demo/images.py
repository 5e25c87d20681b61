"""The demo's images, imported from root filesystems built out of host files."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import docker
import docker.errors

from opscheck.demo.rootfs import Rootfs
from opscheck.errors import DemoError
from opscheck.log import logger

REPOSITORY = "opscheck-demo"
WEB_VERSION = "1.4.2"
WEB_PREVIOUS_VERSION = "1.4.1"
DB_VERSION = "15"
NGINX = Path("/usr/sbin/nginx")
POSTGRES_ROOT = Path("/usr/lib/postgresql/15")
POSTGRES_SHARE = Path("/usr/share/postgresql/15")
ZONEINFO = Path("/usr/share/zoneinfo")

APP_UID = 1000
POSTGRES_UID = 999

_USERS = (
    "root:x:0:0:root:/root:/bin/sh\n"
    f"app:x:{APP_UID}:{APP_UID}:demo app:/tmp:/bin/sh\n"
    f"postgres:x:{POSTGRES_UID}:{POSTGRES_UID}:PostgreSQL:/var/lib/postgresql:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUPS = f"root:x:0:\napp:x:{APP_UID}:\npostgres:x:{POSTGRES_UID}:\nnogroup:x:65534:\n"


@dataclass(frozen=True)
class ImageSpec:
    """One image the demo imports, under every tag it is known by."""

    tags: tuple[str, ...]
    build: Callable[[Rootfs], None]
    changes: tuple[str, ...]


def web_image(service: str, version: str = WEB_VERSION) -> str:
    """Return the image reference of a web service (backend, frontend, nginx)."""
    return f"{REPOSITORY}/{service}:{version}"


def db_image() -> str:
    """Return the image reference of the database."""
    return f"{REPOSITORY}/postgres:{DB_VERSION}"


def image_specs() -> list[ImageSpec]:
    """Return the images of the demo: two versions of the web image, and PostgreSQL."""
    web_changes = ("ENV PATH=/bin:/usr/sbin", f"USER {APP_UID}", 'CMD ["/app/app.sh"]')
    specs = [
        ImageSpec(
            tags=tuple(web_image(s, version) for s in ("backend", "frontend", "nginx")),
            build=lambda rootfs, version=version: _build_web(rootfs, version),  # type: ignore[misc]
            changes=(*web_changes, f"LABEL org.opencontainers.image.version={version}"),
        )
        for version in (WEB_PREVIOUS_VERSION, WEB_VERSION)
    ]
    specs.append(
        ImageSpec(
            tags=(db_image(),),
            build=_build_postgres,
            changes=(
                f"ENV PATH=/bin:{POSTGRES_ROOT}/bin",
                "ENV TZ=UTC",
                f"USER {POSTGRES_UID}",
                'CMD ["/app/entrypoint.sh"]',
            ),
        )
    )
    return specs


ASSETS_LABEL = "org.opscheck.demo.assets"


def assets_digest() -> str:
    """Return a digest of the files baked into the images, to rebuild when they change."""
    digest = hashlib.sha256()
    folder = resources.files("opscheck.demo").joinpath("assets")
    for group in ("web", "db"):
        for entry in sorted(folder.joinpath(group).iterdir(), key=lambda e: e.name):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]


def ensure_images(client: docker.DockerClient) -> list[str]:
    """Import every demo image that is missing or outdated; return the tags imported."""
    digest = assets_digest()
    imported: list[str] = []
    for spec in image_specs():
        outdated = [tag for tag in spec.tags if not _is_current(client, tag, digest)]
        if not outdated:
            continue
        _import(client, spec, digest)
        imported.extend(spec.tags)
    return imported


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _is_current(client: docker.DockerClient, tag: str, digest: str) -> bool:
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    labels = image.attrs.get("Config", {}).get("Labels") or {}
    return bool(labels.get(ASSETS_LABEL) == digest)


def _import(client: docker.DockerClient, spec: ImageSpec, digest: str) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="opscheck-demo-") as folder:
        archive = Path(folder, "rootfs.tar")
        rootfs = Rootfs(archive)
        try:
            spec.build(rootfs)
        finally:
            rootfs.close()

        first, *others = spec.tags
        repository, tag = first.rsplit(":", 1)
        try:
            client.api.import_image_from_file(
                str(archive),
                repository=repository,
                tag=tag,
                changes=[*spec.changes, f"LABEL {ASSETS_LABEL}={digest}"],
            )
            image = client.images.get(first)
            for other in others:
                other_repository, other_tag = other.rsplit(":", 1)
                image.tag(other_repository, other_tag)
        except docker.errors.APIError as exc:
            raise DemoError(
                f"importing image {first} failed: {exc.explanation}"
            ) from exc

    logger.info(
        "imported image %s in %.1f s", ", ".join(spec.tags), time.monotonic() - started
    )


def _asset(*parts: str) -> bytes:
    return resources.files("opscheck.demo").joinpath("assets", *parts).read_bytes()


def _build_web(rootfs: Rootfs, version: str) -> None:
    if not NGINX.exists():
        raise DemoError(
            f"{NGINX} not found, but the demo's web images copy it from the host; "
            "install it with 'apt-get install -y nginx-light'"
        )
    rootfs.add_busybox(_USERS, _GROUPS)
    rootfs.add_programs([NGINX])
    rootfs.add_dir("var/log/nginx", uid=APP_UID)
    rootfs.add_bytes("VERSION", f"{version}\n".encode())
    for name in ("app.sh", "proxy.sh", "hog.sh", "health.cgi"):
        rootfs.add_bytes(f"app/{name}", _asset("web", name), mode=0o755)
    for name in ("nginx-app.conf", "nginx-proxy.conf"):
        rootfs.add_bytes(f"app/{name}", _asset("web", name))


def _build_postgres(rootfs: Rootfs) -> None:
    if not (POSTGRES_ROOT / "bin" / "postgres").exists():
        raise DemoError(
            f"{POSTGRES_ROOT}/bin/postgres not found, but the demo's database "
            "image copies it from the host; install it with "
            "'apt-get install -y postgresql-15'"
        )
    rootfs.add_busybox(_USERS, _GROUPS)

    # The JIT provider and its bitcode need libLLVM (about 100 MB); the demo runs
    # without JIT.
    rootfs.add_tree(POSTGRES_ROOT, exclude=("bitcode", "llvmjit"))
    rootfs.add_tree(POSTGRES_SHARE)
    programs = [*sorted((POSTGRES_ROOT / "bin").iterdir())]
    programs += sorted(
        path
        for path in (POSTGRES_ROOT / "lib").glob("*.so")
        if not path.name.startswith("llvmjit")
    )
    rootfs.add_programs(programs)
    for zone in ("UTC", "Etc/UTC", "Factory"):
        if (ZONEINFO / zone).exists():
            rootfs.add_file(ZONEINFO / zone)
    rootfs.add_symlink("etc/localtime", "/usr/share/zoneinfo/UTC")

    rootfs.add_dir("var/lib/postgresql", uid=POSTGRES_UID)
    rootfs.add_dir("var/lib/postgresql/data", uid=POSTGRES_UID, mode=0o700)
    rootfs.add_dir("var/run/postgresql", uid=POSTGRES_UID, mode=0o2775)
    for name in ("entrypoint.sh", "ready.sh"):
        rootfs.add_bytes(f"app/{name}", _asset("db", name), mode=0o755)
    rootfs.add_bytes("app/seed.sql", _asset("db", "seed.sql"))


def remove_images(client: docker.DockerClient) -> None:
    """Remove every demo image (tests use it to measure a build from scratch)."""
    for spec in image_specs():
        for tag in spec.tags:
            if _exists(client, tag):
                client.images.remove(tag, force=True)
