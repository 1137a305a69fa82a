"""Print the demo profile's [[cameras]] blocks with the sim venue's exact calibration.

    .venv/bin/python tools/make_demo_cameras.py [--venue arena] [--width 1280 --height 720]

Paste the output over the camera blocks of profiles/demo.toml after changing the venue's rig, then
regenerate the NDI variant: .venv/bin/python -m io_adapters.ndi.publish > profiles/demo-ndi.toml
"""

from __future__ import annotations

import argparse

from io_adapters.sim.venue import profile_cameras_toml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venue", default="arena")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    args = parser.parse_args()
    print(profile_cameras_toml(args.venue, args.width, args.height), end="")


if __name__ == "__main__":
    main()
