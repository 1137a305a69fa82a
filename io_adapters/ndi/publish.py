"""The sim rig as NDI: ``fvreplay sim --ndi`` publishes every sim camera as an NDI source ``FVR SIM camNN``.

Each camera's frames come from its profile source (``sim://arena/cam03``, built through the plugin
registry), are paced by their own capture times on the reference clock, and go out through an
:class:`NdiSink` (SDK clocking off, timecode = capture time as NDI's 100 ns UTC, ``<fvr/>`` metadata).

Ports: NDI cannot be told which TCP port a sender listens on; it takes the first free one from 5961
up. Senders are therefore created one after another in rig order, before any frame flows, so a
publisher that is the first NDI program on a machine gets cam01 → 5961, cam02 → 5962 … (the ports
``profiles/demo-ndi.toml`` expects). Each address is verified and printed; where another program held
a port, ``--ports-file`` (JSON) and ``--write-profile`` (a ready-to-run ingest profile, calibration
included) give the addresses actually used, so nothing depends on the ports being the usual ones.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from io_adapters.ndi.settings import DISCOVERY_SERVICE_PORT

if TYPE_CHECKING:  # the rest loads with the first publisher, so ``add_ndi_args`` stays cheap to import
    from io_adapters.ndi.sink import NdiSink
    from plugin.ports import Source
    from profiles.schema import Profile
    from timing import ReferenceClock

log = logging.getLogger("fvreplay.ndi")

FIRST_PORT = DISCOVERY_SERVICE_PORT + 1
DEFAULT_PREFIX = "FVR SIM"


def add_ndi_args(parser: argparse.ArgumentParser) -> None:
    """The ``--ndi`` options of ``fvreplay sim``; call :func:`publish_sim` when ``args.ndi`` is set."""
    g = parser.add_argument_group("NDI", "publish each sim camera as an NDI source")
    g.add_argument("--ndi", action="store_true", help="publish every camera as an NDI source 'FVR SIM <camera>'")
    g.add_argument("--ndi-prefix", default=DEFAULT_PREFIX, help="NDI name before the camera's (default: FVR SIM)")
    g.add_argument(
        "--ndi-host", default=None, metavar="HOST", help="address printed for receivers (default: this machine's)"
    )
    g.add_argument(
        "--ndi-loopback",
        action="store_true",
        help="keep NDI on 127.0.0.1 with no mDNS advertising (a single-machine demo; writes an SDK config)",
    )
    g.add_argument(
        "--ports-file", type=Path, default=None, metavar="PATH", help="write {camera: ndi://host:port} JSON here"
    )
    g.add_argument(
        "--write-profile",
        type=Path,
        default=None,
        metavar="PATH",
        help="write a profile that ingests the published cameras over NDI (addresses and calibration)",
    )


def publish_from_args(profile: Profile, args: argparse.Namespace, *, duration: float | None = None) -> int:
    """``fvreplay sim`` with ``--ndi``: :func:`publish_sim` with the options :func:`add_ndi_args` added."""
    return publish_sim(
        profile,
        prefix=args.ndi_prefix,
        host=args.ndi_host,
        loopback=args.ndi_loopback,
        ports_file=args.ports_file,
        write_profile=args.write_profile,
        duration=duration,
    )


class SimPublisher:
    """Every camera of a profile published as an NDI sender, one thread per camera.

    ``sources`` gives cameras' sources ready-made (tests build them without entry points); by default
    each camera's profile URL is built through the plugin registry. ``drop``/``restore`` take a
    camera's sender off the network and back, as a pulled cable would.
    """

    def __init__(
        self,
        profile: Profile,
        *,
        clock: ReferenceClock | None = None,
        prefix: str = DEFAULT_PREFIX,
        host: str | None = None,
        sources: Mapping[str, Source] | None = None,
    ) -> None:
        from plugin.ports import VideoFormat
        from timing import InternalClock

        self.profile = profile
        self.clock = clock or InternalClock()
        self.fmt = VideoFormat(profile.format.width, profile.format.height, profile.format.frame_rate)
        self.prefix = prefix
        self.host = host
        self.cameras = [c.name for c in profile.enabled_cameras]
        self._given = dict(sources or {})
        self.sources: dict[str, Source] = {}
        self.sinks: dict[str, NdiSink] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.frames: dict[str, int] = dict.fromkeys(self.cameras, 0)
        self.errors: dict[str, str] = {}
        self._dropped: set[str] = set()

    def start(self) -> None:
        """Create every sender in rig order (so ports follow it), then start the camera threads."""
        from plugin import registry
        from plugin.errors import PluginError, ProfileError
        from plugin.ports import AdapterContext

        for cam in self.profile.enabled_cameras:
            ctx = AdapterContext(cam.name, self.fmt, self.clock, {}, self.profile)
            if cam.name in self._given:
                self.sources[cam.name] = self._given[cam.name]
            else:
                try:
                    self.sources[cam.name] = registry.build_source(cam.source, ctx)
                except PluginError as exc:
                    raise ProfileError(f"cameras.{cam.name}.source: {exc}") from exc
            self.sinks[cam.name] = self._open_sink(cam.name)
        self._stop.clear()
        for name in self.cameras:
            t = threading.Thread(target=self._run, args=(name,), name=f"ndi-publish-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def _open_sink(self, name: str) -> NdiSink:
        from io_adapters.ndi.sink import NdiSink
        from plugin.ports import AdapterContext

        query = f"?host={self.host}" if self.host else ""
        sink = NdiSink(f"ndi://{self.prefix} {name}{query}", AdapterContext(name, self.fmt, self.clock))
        sink.configure(self.fmt)
        return sink

    def drop(self, camera: str) -> None:
        """Take one camera's sender off the network, as a pulled cable or a crashed camera would."""
        self._dropped.add(camera)
        self.sinks[camera].close()

    def restore(self, camera: str) -> str:
        """Put a dropped camera back (the same NDI name; its port, if still free) and return its address."""
        sink = self._open_sink(camera)
        self.sinks[camera] = sink
        self._dropped.discard(camera)
        return sink.address()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3.0)
        self._threads.clear()
        for sink in self.sinks.values():
            sink.close()

    @property
    def addresses(self) -> dict[str, str]:
        """camera → ``host:port`` where its NDI source can be received directly."""
        return {name: sink.address() for name, sink in self.sinks.items()}

    def expected_ports(self) -> bool:
        """Whether the senders got 5961, 5962 … in rig order (what profiles/demo-ndi.toml assumes)."""
        return all(
            addr.endswith(f":{FIRST_PORT + i}") for i, addr in enumerate(self.addresses[c] for c in self.cameras)
        )

    def lines(self) -> list[str]:
        return [self.sinks[c].describe() for c in self.cameras]

    def state(self) -> dict[str, Any]:
        return {c: {"frames": self.frames[c], "error": self.errors.get(c, ""), **self.sinks[c].state()} for c in self.cameras}

    def _run(self, name: str) -> None:
        from plugin.errors import AdapterError

        source = self.sources[name]
        try:
            source.open()
        except AdapterError as exc:
            self.errors[name] = str(exc)
            log.error("%s: %s", name, exc)
            return
        try:
            while not self._stop.is_set():
                frame = source.read(0.25)
                if frame is None:
                    continue
                # A source that renders ahead is held back to its frames' capture times.
                self.clock.sleep_until(frame.tai_ns, precise=False)
                if name in self._dropped:
                    continue
                try:
                    self.sinks[name].send(frame)
                    self.frames[name] += 1
                except AdapterError as exc:
                    if name not in self._dropped:  # a drop() between the check and the send is expected
                        self.errors[name] = str(exc)
                        log.warning("%s: %s", name, exc)
        finally:
            source.close()


def publish_sim(
    profile: Profile,
    *,
    prefix: str = DEFAULT_PREFIX,
    host: str | None = None,
    loopback: bool = False,
    ports_file: Path | None = None,
    write_profile: Path | None = None,
    duration: float | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Publish the profile's cameras over NDI until ``duration`` ends or Ctrl-C; print each address."""
    if loopback:
        from io_adapters.ndi.config import use_loopback

        use_loopback("fvr-ndi-", replace=True)  # asked for: even over an NDI_CONFIG_DIR already set
        host = host or "127.0.0.1"
    pub = SimPublisher(profile, prefix=prefix, host=host)
    pub.start()
    try:
        for line in pub.lines():
            out(line)
        if not pub.expected_ports():
            out(
                f"note: the ports are not {FIRST_PORT}… in rig order (another NDI program holds some), so "
                "profiles/demo-ndi.toml will not find these cameras; use --write-profile or --ports-file"
            )
        addresses = pub.addresses
        if ports_file is not None:
            ports_file.write_text(json.dumps({c: f"ndi://{a}" for c, a in addresses.items()}, indent=2) + "\n")
            out(f"wrote {ports_file}")
        if write_profile is not None:
            write_profile.write_text(ingest_profile_text(profile, addresses))
            out(f"wrote {write_profile}: run it with `fvreplay run --profile {write_profile}`")
        deadline = time.monotonic() + duration if duration is not None else math.inf
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how an operator stops publishing
            while time.monotonic() < deadline:
                time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    finally:
        pub.stop()
    return 0


# --- an ingest profile for the published rig ---------------------------------------------------------


def _calibration(profile: Profile, source: str) -> dict[str, Any] | None:
    """The inline calibration a sim camera reports (exact, or with the error its URL's ``noise`` asks for)."""
    try:
        from io_adapters.sim.venue import find_camera, parse_sim_url
    except ImportError:
        return None
    if not source.startswith("sim://"):
        return None
    url = parse_sim_url(source)
    cam = find_camera(url.venue, url.camera, profile.format.width, profile.format.height, noise=url.noise, seed=url.seed)

    def r(x: float) -> float:
        return float(f"{x:.10g}")

    return {
        "fx": r(cam.K[0, 0]),
        "fy": r(cam.K[1, 1]),
        "cx": r(cam.K[0, 2]),
        "cy": r(cam.K[1, 2]),
        "dist": [r(v) for v in cam.dist],
        "rotation": [[r(v) for v in row] for row in cam.R],
        "translation": [r(v) for v in cam.t],
    }


def ingest_profile_text(
    profile: Profile,
    addresses: Mapping[str, str],
    *,
    outputs: Mapping[str, list[str]] | None = None,
    time_base: str = "timecode",
) -> str:
    """A profile that ingests ``profile``'s cameras over NDI at ``addresses`` (camera → host:port).

    Everything but the cameras is kept (``outputs`` replaces channels' outputs by name); each
    camera's source becomes ``ndi://host:port?time=…`` (``timecode``: frames are filed by the capture
    time the publisher puts in the NDI timecode) and its calibration is written inline from the sim
    venue, so the renderers work as on the sim rig.
    """
    from profiles import to_toml

    data = profile.model_dump(mode="json", exclude_defaults=True, exclude={"source_path", "cameras"})
    data["name"] = f"{profile.name} over NDI"
    for channel in data.get("channels", []):
        if outputs and channel["name"] in outputs:
            channel["outputs"] = list(outputs[channel["name"]])
    data.setdefault("format", {}).update(
        width=profile.format.width, height=profile.format.height, rate=profile.format.rate
    )
    cameras = []
    for cam in profile.enabled_cameras:
        entry: dict[str, Any] = {"name": cam.name, "source": f"ndi://{addresses[cam.name]}?time={time_base}"}
        calibration = cam.calibration.model_dump(mode="json") if cam.calibration else _calibration(profile, cam.source)
        if calibration:
            entry["calibration"] = calibration
        cameras.append(entry)
    data["cameras"] = cameras
    header = (
        f"# {data['name']}: the cameras of profile {profile.name!r} received over NDI, as `fvreplay sim --ndi`\n"
        "# publishes them (each camera at its own address; no discovery needed). Written by\n"
        "# io_adapters.ndi.publish.ingest_profile_text; calibration is the sim venue's, exact.\n"
    )

    return header + to_toml(data) + "\n"


def demo_ndi_text() -> str:
    """``profiles/demo-ndi.toml``: the demo rig as ``fvreplay sim --ndi --profile demo`` publishes it
    on a machine where it is the first NDI program (ports 5961…), with PGM1 out as ``FVR PGM1``.
    Regenerate with ``python -m io_adapters.ndi.publish > profiles/demo-ndi.toml``."""
    from profiles import load_profile

    demo = load_profile("demo")
    addresses = {c.name: f"127.0.0.1:{FIRST_PORT + i}" for i, c in enumerate(demo.enabled_cameras)}
    text = ingest_profile_text(demo, addresses, outputs={c.name: [f"ndi://FVR {c.name}"] for c in demo.channels})
    return (
        "# Start the cameras first: `fvreplay sim --ndi --profile demo` (it must be the first NDI program\n"
        "# on the machine to get ports 5961-5970; it says so otherwise). Then `fvreplay run --profile demo-ndi`.\n"
        "# Generated: python -m io_adapters.ndi.publish > profiles/demo-ndi.toml\n" + text
    )


if __name__ == "__main__":
    print(demo_ndi_text(), end="")  # noqa: T201 (writes the profile to stdout)
