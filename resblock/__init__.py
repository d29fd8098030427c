"""resblock: a course on residual connections you can run.

Modules, one concept each (import the one you need; nothing runs at import time):
- resblock.blocks: ResidualBlock and its PlainBlock twin (notebook 01)
- resblock.models: the 6n+2 ResNet and deep MLP stacks (notebooks 02-04)
- resblock.data: Fashion-MNIST as in-memory tensors
- resblock.env: seeding and device choice
"""

__version__ = "0.1.0"
