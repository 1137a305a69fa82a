"""Frames in and out of fvreplay: one folder per kind of source or sink (sim, ndi, st2110, file, memory)."""
