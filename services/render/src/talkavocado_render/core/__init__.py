"""Pure core of the render service: planning, timeline, subtitles, filtergraph."""
