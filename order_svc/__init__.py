"""OrderService: orders, shipment, delivery, buyer-protection window and escrow state."""
