"""The operator side: bundle, sign, publish and watch models; build tiny model layers; fleet cost."""
