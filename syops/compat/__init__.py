"""APIs of the tools syops replaces: syops-counter's get_model_complexity_info (and, in later modules,
sinabs' and snnmetrics' analysis APIs), with the same names and return shapes and exact numbers."""
