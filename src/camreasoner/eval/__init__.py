"""CameraBench evaluation: scoring (``score``), inference runners (``runner``, ``backends``) and
reports (``report``)."""
