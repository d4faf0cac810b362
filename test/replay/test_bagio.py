"""Bag I/O without ROS: the test-bag generator round-trips through AnyReader for every storage; bad bags
give one BagError; output bags are written atomically and declare Humble-readable metadata."""
import numpy as np
import pytest

from vstream_ros.interfaces.image_codec import decode_compressed, decode_image
from vstream_ros.replay.bagio import (
    BagError,
    choose_image_topic,
    iter_images,
    list_topics,
    read_texts,
    resolve_bag_path,
)
from vstream_lab.testbag import write_image_bag
from vstream_ros.replay.bagwrite import OutRecord, narration_msg, string_msg, write_bag

FRAMES = [(1.0 + i / 20, np.full((24, 32, 3), (10 * i, 5 * i, 100), np.uint8)) for i in range(12)]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3", "ros1"])
@pytest.mark.parametrize("compressed", [False, True])
def test_generated_bag_round_trip(tmp_path, storage, compressed):
    bag = write_image_bag(tmp_path / "in.mcap", FRAMES, compressed=compressed, storage=storage,
                          ref_narrations=[(1.2, "you pick up a cup"), (1.5, "you drink")], queries=[(1.3, "what?")],
                          compressed_format="png")
    assert bag.suffix == (".bag" if storage == "ros1" else "")
    msgs = list(iter_images(bag))
    assert [m.stamp_ns for m in msgs] == [round(t * 1e9) for t, _ in FRAMES]
    assert all(m.recv_ns == m.stamp_ns for m in msgs)
    m = msgs[5].msg
    rgb = (decode_compressed(m.format, m.data) if compressed else
           decode_image(m.height, m.width, m.encoding, m.is_bigendian, m.step, m.data))
    np.testing.assert_array_equal(rgb, FRAMES[5][1])                      # png / raw are lossless
    refs = read_texts(bag, "/ref/narration")
    assert [(ns, text) for ns, text, _ in refs] == [(1_200_000_000, "you pick up a cup"), (1_500_000_000, "you drink")]
    assert [text for _, text, _ in read_texts(bag, "/vstream/query")] == ["what?"]


def test_jpeg_and_bgr_encodings(tmp_path):
    bag = write_image_bag(tmp_path / "j", FRAMES[:2], compressed=True)
    m = next(iter(iter_images(bag))).msg
    assert m.format.startswith("rgb8; jpeg") and np.abs(decode_compressed(m.format, m.data).astype(int)
                                                        - FRAMES[0][1]).max() < 12
    bag = write_image_bag(tmp_path / "b", FRAMES[:2], encoding="bgr8")
    m = next(iter(iter_images(bag))).msg
    assert m.encoding == "bgr8"
    np.testing.assert_array_equal(decode_image(m.height, m.width, m.encoding, 0, m.step, m.data), FRAMES[0][1])


def test_narration_references_use_header_stamps(tmp_path):
    bag = write_image_bag(tmp_path / "n", FRAMES[:2], ref_narrations=[(1.25, "hello there")], ref_type="narration")
    assert list_topics(bag)["/ref/narration"] == "vstream_msgs/msg/Narration"
    (ns, text, m), = read_texts(bag, "/ref/narration")
    assert (ns, text, m.msg.header.stamp.sec, m.msg.header.stamp.nanosec) == (1_250_000_000, "hello there", 1,
                                                                              250_000_000)


def test_path_spellings(tmp_path):
    bag = write_image_bag(tmp_path / "run.mcap", FRAMES[:2])
    assert bag == tmp_path / "run"
    for spelling in (tmp_path / "run", tmp_path / "run.mcap", tmp_path / "run" / "run.mcap"):
        assert len(list(iter_images(spelling))) == 2
    assert resolve_bag_path(tmp_path / "run.mcap") == tmp_path / "run"


def test_missing_image_topic_and_ambiguous_topics(tmp_path):
    bag = write_image_bag(tmp_path / "noimg", [], ref_narrations=[(1.0, "only text")])
    with pytest.raises(BagError, match="no sensor_msgs/Image or CompressedImage topic"):
        choose_image_topic(bag)
    with pytest.raises(BagError, match="has no topic '/cam'"):
        choose_image_topic(bag, "/cam")
    with pytest.raises(BagError, match="not sensor_msgs/Image"):
        choose_image_topic(bag, "/ref/narration")
    with pytest.raises(BagError, match="does not exist"):
        list_topics(tmp_path / "nothing.mcap")


@pytest.mark.parametrize("storage", ["mcap", "sqlite3", "ros1"])
def test_truncated_bag_is_one_clear_error(tmp_path, storage):
    bag = write_image_bag(tmp_path / "t", FRAMES, storage=storage)
    f = bag if storage == "ros1" else next(p for p in bag.iterdir() if p.suffix in (".mcap", ".db3"))
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"(truncated|readable|cannot read)"):
        list(iter_images(bag))


def test_write_bag_is_atomic_and_humble_shaped(tmp_path):
    recs = [OutRecord("/vstream/narration", "vstream_msgs/msg/Narration", 5_000_000_001,
                      narration_msg(5_000_000_001, "hi", confidence=0.5)),
            OutRecord("/vstream/narration_text", "std_msgs/msg/String", 5_000_000_001, string_msg("hi"))]
    out = write_bag(tmp_path / "o.db3", recs)
    assert out == tmp_path / "o" and (out / "o.db3").is_file()
    meta = (out / "metadata.yaml").read_text()
    assert "version: 8" in meta and "storage_identifier: sqlite3" in meta
    assert "offered_qos_profiles: \"- " in meta or "offered_qos_profiles: '- " in meta   # string-shaped (Humble)
    (ns, text, m), = read_texts(out, "/vstream/narration")
    assert (ns, text, m.msg.header.stamp.nanosec) == (5_000_000_001, "hi", 1)
    # replacing an existing bag leaves only the new one, and no temporary folders behind
    write_bag(tmp_path / "o.db3", recs[:1])
    assert list_topics(out) == {"/vstream/narration": "vstream_msgs/msg/Narration"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_failed_write_leaves_no_bag(tmp_path):
    def boom():
        yield OutRecord("/x", "std_msgs/msg/String", 1, string_msg("a"))
        raise RuntimeError("interrupted")
    with pytest.raises(RuntimeError):
        write_bag(tmp_path / "x.mcap", boom())
    assert list(tmp_path.iterdir()) == []


def test_generator_accepts_engine_frames(tmp_path):
    from vstream_ros.engine.frames import Frame
    bag = write_image_bag(tmp_path / "f", (Frame(t, rgb) for t, rgb in FRAMES[:3]), storage="sqlite3")
    assert [m.stamp_ns for m in iter_images(bag)] == [1_000_000_000, 1_050_000_000, 1_100_000_000]


def test_humble_sqlite3_recording_without_type_definitions_reads(tmp_path):
    """Humble's sqlite3 recorder (`ros2 bag record`) stores no message definitions: the reader falls back to the
    Humble typestore with vstream_msgs registered (it used to fail with 'Bag contains no type definitions')."""
    import sqlite3

    import numpy as np

    from vstream_ros.replay.bagio import iter_images, list_topics, read_texts
    from vstream_lab.testbag import write_image_bag
    frames = [(100 + i * 0.1, np.full((8, 8, 3), i, np.uint8)) for i in range(3)]
    bag = write_image_bag(tmp_path / "rec", frames, storage="sqlite3", queries=[(100.05, "what now?")])
    (db,) = bag.glob("*.db3")
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM message_definitions")
    assert list_topics(bag)["/camera/image_raw"] == "sensor_msgs/msg/Image"
    assert [int(m.msg.data[0]) for m in iter_images(bag)] == [0, 1, 2]
    assert [text for _, text, _ in read_texts(bag, "/vstream/query")] == ["what now?"]
