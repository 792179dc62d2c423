"""Reproduction recipes: load the data, build the model, train with the standard
callbacks, write the run folder (weights, history, pictures, metrics)."""
