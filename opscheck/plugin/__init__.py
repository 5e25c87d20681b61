"""The pytest plugin: markers, options, outcomes, results and report writing."""
