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


# ROS packages the two package.xml files name (resolved by rosdep from the ROS distribution itself)
ROS_PACKAGES = {"rclpy", "std_msgs", "std_srvs", "sensor_msgs", "builtin_interfaces", "diagnostic_msgs", "rosgraph_msgs",
                "lifecycle_msgs", "vstream_msgs", "launch", "launch_ros", "ament_index_python", "launch_testing",
                "launch_testing_ros", "ros2bag", "ament_cmake", "rosidl_default_generators", "rosidl_default_runtime",
                "action_msgs", "ament_lint_auto", "ament_cmake_lint_cmake"}
# system keys, each checked against ros/rosdistro rosdep/python.yaml and base.yaml (2026-08 snapshot): defined for
# Debian and Ubuntu. Not keys: espeak-ng (only espeak and libespeak-ng1 are), and the pip-only ML stack.
ROSDEP_KEYS = {"python3-numpy", "python3-opencv", "python3-yaml", "python3-pil", "python3-pytest"}


def both(root):
    return [catkin_pkg.parse_package(str(root / "package.xml")),
            catkin_pkg.parse_package(str(root / "vstream_msgs" / "package.xml"))]


def test_every_dependency_is_a_ros_package_or_a_checked_rosdep_key(root):
    for pkg in both(root):
        deps = names(pkg.build_depends + pkg.buildtool_depends + pkg.exec_depends + pkg.test_depends)
        unknown = deps - ROS_PACKAGES - ROSDEP_KEYS
        assert not unknown, f"{pkg.name}: check {sorted(unknown)} against rosdistro's rosdep keys, then list them here"


def test_the_two_packages_release_together(root):
    """bloom releases both from one repository: same version (= setup.py's), maintainers and licence."""
    ros, msgs = both(root)
    setup = (root / "setup.py").read_text()
    assert ros.version == msgs.version == re.search(r'version="([^"]+)"', setup).group(1)
    assert [(m.name, m.email) for m in ros.maintainers] == [(m.name, m.email) for m in msgs.maintainers]
    assert (ros.maintainers[0].name, ros.maintainers[0].email) == (
        re.search(r'maintainer="([^"]+)"', setup).group(1), re.search(r'maintainer_email="([^"]+)"', setup).group(1))
    assert ros.licenses == msgs.licenses == ["Apache-2.0"] and 'license="Apache-2.0"' in setup


def test_changelogs_have_the_version_being_released(root):
    from catkin_pkg.changelog import get_changelog_from_path
    for pkg, folder in zip(both(root), (root, root / "vstream_msgs")):
        log = get_changelog_from_path(str(folder / "CHANGELOG.rst"), pkg.name)
        assert log is not None and pkg.version in [v for v, _, _ in log.foreach_version()], pkg.name


def test_declared_linters_are_the_ones_colcon_test_runs(root):
    """No linter is declared that never runs: ament_python runs ament_* linters only from test files calling them;
    ament_cmake runs the declared ones through ament_lint_auto under BUILD_TESTING."""
    ros, msgs = both(root)
    tests = " ".join(p.read_text() for p in (root / "test").glob("test_*.py"))
    for dep in names(ros.test_depends):
        if dep.startswith("ament_") and dep != "ament_index_python":
            assert f"import {dep}" in tests or f"from {dep}" in tests, f"{dep} is declared but no test runs it"
    linters = {d for d in names(msgs.test_depends) if d.startswith("ament_cmake_")}
    cmake = (root / "vstream_msgs" / "CMakeLists.txt").read_text()
    assert linters and "ament_lint_auto" in names(msgs.test_depends)
    block = re.search(r"if\(BUILD_TESTING\)(.*?)endif\(\)", cmake, re.S)
    assert block and "find_package(ament_lint_auto REQUIRED)" in block.group(1)
    assert "ament_lint_auto_find_test_dependencies()" in block.group(1)
