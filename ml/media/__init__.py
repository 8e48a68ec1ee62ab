"""Media in: probe a file, sample its frames (decode), find, track and crop its faces (faces). No torch."""
