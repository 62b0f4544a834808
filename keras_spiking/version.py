"""Version information for keras_spiking."""

version = "0.1.0.dev0"
