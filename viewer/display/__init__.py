"""Display maths without Qt: VOI windows, presets, displayable 8-bit images."""
