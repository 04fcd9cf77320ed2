"""VideoINR: continuous space-time super-resolution (Chen et al., CVPR 2022).

Work in progress: the architecture is here (``arch``); the method is not registered with the host until
it ships trained weights (a model with random weights is not a feature).
"""

__version__ = "0.0.1"
