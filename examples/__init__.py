"""Small programs a platform team can copy: how to consume what the dispute platform sends."""
