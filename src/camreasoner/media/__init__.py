"""Media: reading clips (probing, frame sampling by the vision spec, resizing), the frame cache
and decode workers, writing clips. Imports only the core (``camreasoner.vision``)."""
