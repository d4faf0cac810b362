"""`spin_main`: the `main()` of a plain (non-lifecycle) executable — init, make the node, spin until Ctrl-C or an
external shutdown, destroy it, exit 0; a node that cannot be made prints one line and exits 1.

Imports rclpy (an adapter).
"""
from __future__ import annotations

import rclpy


def spin_main(make, label: str, errors: tuple, hint: str = "", args=None) -> int:
    from rclpy.executors import ExternalShutdownException  # noqa: PLC0415

    rclpy.init(args=args)
    try:
        node = make()
    except errors as e:
        print(f"{label}: cannot start: {e}{hint}")
        rclpy.try_shutdown()
        return 1
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0
