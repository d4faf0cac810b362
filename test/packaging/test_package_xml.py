"""package.xml files parse with catkin_pkg (what rosdep/colcon use) and declare what the code needs."""
import re

import pytest

catkin_pkg = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg not installed (pip install catkin_pkg)")


def names(deps):
    return {d.name for d in deps}


def test_root_package_is_ament_python_with_runtime_deps(root):
    pkg = catkin_pkg.parse_package(str(root / "package.xml"))
    pkg.validate()
    assert pkg.name == "vstream_ros" and pkg.package_format == 3
    assert pkg.get_build_type() == "ament_python"
    needed = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "diagnostic_msgs", "vstream_msgs", "launch",
              "launch_ros", "python3-numpy", "python3-opencv"}
    assert needed <= names(pkg.exec_depends)
    assert {"launch_testing", "launch_testing_ros"} <= names(pkg.test_depends)


def test_root_package_deps_cover_ros_imports_of_the_nodes(root):
    """Every ROS package imported by vstream_ros/ros/*.py is an exec_depend (else a binary install breaks)."""
    pkg = catkin_pkg.parse_package(str(root / "package.xml"))
    imported = set()
    for f in (root / "vstream_ros" / "ros").glob("*.py"):
        imported |= set(re.findall(r"^\s*(?:from|import) (\w+_msgs|\w+_srvs|rcl_interfaces|rclpy)\b",
                                   f.read_text(), re.M))
    missing = imported - names(pkg.exec_depends) - {"rcl_interfaces"}   # rcl_interfaces comes with rclpy
    assert not missing, f"add <exec_depend> for {sorted(missing)} to package.xml"


def test_vstream_msgs_is_an_interface_package(root):
    pkg = catkin_pkg.parse_package(str(root / "vstream_msgs" / "package.xml"))
    pkg.validate()
    assert pkg.name == "vstream_msgs" and pkg.get_build_type() == "ament_cmake"
    assert "rosidl_default_generators" in names(pkg.buildtool_depends)
    assert "rosidl_default_runtime" in names(pkg.exec_depends)
    assert "rosidl_interface_packages" in {g.name for g in pkg.member_of_groups}
    assert {"std_msgs", "builtin_interfaces", "action_msgs"} <= names(pkg.build_depends)


def test_cmake_generates_every_definition_from_the_repo_root(root):
    text = (root / "vstream_msgs" / "CMakeLists.txt").read_text()
    listed = re.findall(r'"\$\{VSTREAM_IDL_ROOT\}:((?:msg|action)/\w+\.(?:msg|action))"', text)
    on_disk = sorted(str(p.relative_to(root)) for p in [*root.glob("msg/*.msg"), *root.glob("action/*.action")])
    assert sorted(listed) == on_disk and on_disk
    assert 'get_filename_component(VSTREAM_IDL_ROOT "${CMAKE_CURRENT_SOURCE_DIR}/.." ABSOLUTE)' in text
    assert "project(vstream_msgs)" in text and "ament_package()" in text
