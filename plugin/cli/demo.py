"""``fvreplay demo``: the demo venue with an automatic replay operator, for a screen with no controller.

The operator is a script of the same commands a 9-pin panel or the web page sends: it watches live,
marks the last few seconds, saves them as a clip, cues the clip, flies a frozen orbit around the rig,
plays the rest in slow motion from the far side, and returns live; then again, on the next camera.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from plugin import commands as c
from plugin.cli import run as run_cmd

log = logging.getLogger("fvreplay.demo")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("demo", help="the demo venue with an automatic operator flying orbits (no controller needed)")
    run_cmd.add_serve_arguments(p)
    p.add_argument("--cycle", type=float, default=6.0, help="seconds of live between replays (default 6)")
    p.set_defaults(handler=demo)


def operate(engine: Any, stop: threading.Event, cycle: float) -> None:
    """Loop the replay: live → mark the last 3 s → save → cue → orbit → slow motion → live."""
    from plugin.freeview.move import orbit

    channel = engine.channel_names[0]
    rate = float(engine.rate.fps)
    n = len(engine.camera_names)
    angle = 0
    while not stop.wait(cycle):
        camera = engine.camera_names[angle % n]
        angle += 3
        now = engine.tick_slot
        held = engine.recorder.common_range()
        if now is None or held is None or held[0] > now - int(3.5 * rate):
            continue  # the record trains do not hold the last 3.5 s yet
        steps = [
            c.GoLive(channel, camera=camera),
            c.MarkIn(channel, slot=now - int(3.5 * rate)),
            c.MarkOut(channel, slot=now - int(0.5 * rate)),
        ]
        for command in steps:
            engine.execute(command)
        saved = engine.execute(c.SaveClip(channel, name=f"demo {camera}"), timeout=60)
        if not saved.ok:
            log.warning("demo: %s", saved.message)
            continue
        clip_id = saved.data["clip_id"]
        log.info("demo: saved %s; orbiting", clip_id)
        engine.execute(c.CueClip(channel, clip_id, camera=camera))
        engine.execute(c.Jog(channel, int(1.5 * rate)))
        engine.execute(c.SetView(channel, 1.0))
        move = orbit(1.0, float(n), 4.0, "ease-in-out")
        engine.execute(c.PlayMove(channel, move=move.to_dict()))
        # On a CPU the orbit renders ahead first (the channel holds its picture meanwhile).
        waited = 0.0
        while engine.state.get(f"channels.{channel}.move_preparing") and waited < 120:
            if stop.wait(0.1):
                return
            waited += 0.1
        log.info("demo: orbit ready after %.1f s; flying", engine.state.get(f"channels.{channel}.move_wait_s") or 0.0)
        if stop.wait(move.duration + 0.2):
            return
        # Then the rest of the moment in slow motion from the far side, as the camera shows it.
        engine.execute(c.SetView(channel, None))
        engine.execute(c.SelectCamera(channel, camera=engine.camera_names[-1]))
        engine.execute(c.Play(channel, speed=0.5))
        if stop.wait(2.0):
            return
        engine.execute(c.GoLive(channel, camera=camera))
        # Keep the clip library small: the demo's clips are disposable.
        for clip in sorted(engine.clips.list(), key=lambda cl: cl.created)[:-4]:
            engine.clips.delete(clip.clip_id)


def demo(args: argparse.Namespace) -> int:
    return run_cmd.run(args, on_serving=lambda engine, stop: operate(engine, stop, args.cycle))
