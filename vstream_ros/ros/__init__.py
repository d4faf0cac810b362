"""Thin rclpy adapters (the only place besides launch/ that imports rclpy)."""
