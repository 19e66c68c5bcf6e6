"""The settings framework, SIPSimpleSettings and AccountSettings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sipsimple import __version__
from sipsimple.configuration import (
    ConfigurationError,
    ConfigurationManager,
    ConfigurationParseError,
    DuplicateIDError,
    InvalidStoredValueError,
    InvalidValueError,
    ModifiedValue,
    ObjectNotFoundError,
    RuntimeSetting,
    Setting,
    SettingsGroup,
    SettingsObject,
    UnknownSettingError,
)
from sipsimple.configuration.account import AccountSettings
from sipsimple.configuration.backend import MemoryBackend
from sipsimple.configuration.datatypes import (
    NameserverAddress,
    PortRange,
    PositiveInteger,
    SIPProxyAddress,
)
from sipsimple.configuration.framework import replacing_stored_values
from sipsimple.configuration.keys import (
    get_setting,
    get_setting_string,
    reset_setting,
    set_setting,
    set_setting_string,
    setting_keys,
    setting_states,
)
from sipsimple.configuration.settings import SIPSimpleSettings, start_configuration
from sipsimple.notification import Notification, NotificationCenter
from sipsimple.storage import FileStorage


class Recorder:
    def __init__(self) -> None:
        self.notifications: list[Notification] = []

    def handle_notification(self, notification: Notification) -> None:
        if notification.name.startswith("CFG"):
            self.notifications.append(notification)

    def names(self) -> list[str]:
        return [n.name for n in self.notifications]


@pytest.fixture
def manager() -> Iterator[ConfigurationManager]:
    manager = ConfigurationManager()
    manager.stop()
    manager.start(MemoryBackend())
    yield manager
    manager.stop()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    NotificationCenter().add_observer(recorder)
    yield recorder
    NotificationCenter().remove_observer(recorder)


class Sample(SettingsObject):
    __id__ = "Sample"

    name = Setting(str, default="x")
    count = Setting(PositiveInteger, default=3)
    note = Setting(str, default=None, nillable=True)
    live = RuntimeSetting(bool, default=False)

    class outer(SettingsGroup):
        flag = Setting(bool, default=False)

        class inner(SettingsGroup):
            ports = Setting(PortRange, default=PortRange(1000, 2000))


def test_manager_must_run(manager: ConfigurationManager) -> None:
    manager.stop()
    with pytest.raises(ConfigurationError, match="not started"):
        Sample()
    with pytest.raises(ConfigurationError, match="not started"):
        manager.get("x")


def test_manager_tree_operations(manager: ConfigurationManager) -> None:
    manager.set(("Accounts", "a@b", "auth"), {"password": "x"})
    assert manager.get("Accounts") == {"a@b": {"auth": {"password": "x"}}}
    assert manager.get_names("Accounts") == ["a@b"]
    assert manager.get_names("Missing") == []
    manager.delete(("Accounts", "a@b", "auth"))
    with pytest.raises(ObjectNotFoundError):
        manager.get("Accounts")  # emptied parents are pruned
    with pytest.raises(ConfigurationError, match="already started"):
        manager.start(MemoryBackend())


def test_failed_start_leaves_manager_stopped(tmp_path: Path) -> None:
    manager = ConfigurationManager()
    manager.stop()
    storage = FileStorage(tmp_path)
    storage.configuration_file.write_text("broken line\n")
    with pytest.raises(ConfigurationParseError):
        manager.start(storage.configuration_backend)
    assert not manager.running
    storage.configuration_backend.reset()
    manager.start(storage.configuration_backend)  # may be retried
    assert manager.running
    manager.stop()


def test_defaults_and_nested_groups(manager: ConfigurationManager) -> None:
    sample = Sample()
    assert (sample.name, sample.count, sample.note) == ("x", 3, None)
    assert sample.outer.inner.ports == PortRange(1000, 2000)
    assert Sample.count.default == 3  # class access gives the descriptor
    assert Sample() is sample  # one instance per id
    with pytest.raises(AttributeError):
        sample.outer = None


def test_invalid_assignment_changes_nothing(manager: ConfigurationManager) -> None:
    sample = Sample()
    sample.count = 7
    for bad in (0, "8", None, 2.5):
        with pytest.raises((TypeError, ValueError)) as info:
            sample.count = bad
        assert "count" in str(info.value)
    assert sample.count == 7
    with pytest.raises(TypeError):
        sample.outer.flag = "yes"
    assert sample.outer.flag is False
    sample.note = None  # nillable


def test_save_posts_created_then_did_change(
    manager: ConfigurationManager, recorder: Recorder
) -> None:
    sample = Sample()
    sample.save()
    assert recorder.names() == ["CFGSettingsObjectWasCreated"]
    assert recorder.notifications[0].sender is sample
    sample.count = 9
    sample.outer.inner.ports = PortRange(3000, 4000)
    sample.live = True  # runtime: neither saved nor reported
    sample.save()
    change = recorder.notifications[-1]
    assert change.name == "CFGSettingsObjectDidChange" and change.sender is sample
    assert change.data.modified == {
        "count": ModifiedValue(3, 9),
        "outer.inner.ports": ModifiedValue(PortRange(1000, 2000), PortRange(3000, 4000)),
    }
    assert manager.get("Sample") == {"count": "9", "outer": {"inner": {"ports": "3000-4000"}}}
    sample.save()  # nothing changed: no notification
    assert len(recorder.notifications) == 2
    del sample.count  # back to the default
    sample.save()
    assert recorder.notifications[-1].data.modified == {"count": ModifiedValue(9, 3)}
    assert manager.get("Sample") == {"outer": {"inner": {"ports": "3000-4000"}}}


def test_unknown_stored_keys_survive(manager: ConfigurationManager) -> None:
    manager.set("Sample", {"name": "stored", "extension": {"k": "v"}, "outer": {"new": "1"}})
    sample = Sample()
    assert sample.name == "stored"
    sample.name = "changed"
    sample.save()
    assert manager.get("Sample") == {
        "name": "changed", "extension": {"k": "v"}, "outer": {"new": "1"}
    }


@pytest.mark.parametrize(
    ("stored", "key", "value", "problem"),
    [
        ({"count": "zero"}, "count", "zero", "expected an integer"),
        ({"count": "0"}, "count", "0", "at least 1"),
        ({"count": None}, "count", None, "cannot be None"),
        ({"count": ["1", "2"]}, "count", ["1", "2"], "single value"),
        ({"outer": {"inner": {"ports": "9-1"}}}, "outer.inner.ports", "9-1", "port range"),
        ({"outer": "flat"}, "outer", "flat", "expected a group"),
        ({"outer": {"flag": {"deep": "x"}}}, "outer.flag", {"deep": "x"}, "single value"),
    ],
)
def test_invalid_stored_value_is_an_error_not_dropped(
    manager: ConfigurationManager, stored: dict[str, Any], key: str, value: Any, problem: str
) -> None:
    manager.set("Sample", {**stored, "extension": "kept"})
    with pytest.raises(InvalidStoredValueError, match=problem) as info:
        Sample()
    error = info.value
    assert isinstance(error, ConfigurationError)
    assert (error.section, error.key, error.value, error.source) == ("Sample", key, value, None)
    assert key in str(error) and (repr(value) if value is not None else "empty") in str(error)
    with pytest.raises(InvalidStoredValueError):  # not half-registered: it fails every time
        Sample()
    assert manager.get("Sample") == {**stored, "extension": "kept"}  # nothing rewritten


def test_invalid_stored_object_is_an_error(manager: ConfigurationManager) -> None:
    manager.set("Sample", "not a group")
    with pytest.raises(InvalidStoredValueError, match="expected a group") as info:
        Sample()
    assert info.value.key == "" and "Sample" in str(info.value)


def test_replacing_an_invalid_stored_value(
    manager: ConfigurationManager, recorder: Recorder
) -> None:
    manager.set("Sample", {"count": "zero", "name": "kept", "extension": {"k": "v"}})
    with replacing_stored_values("count"):
        sample = Sample()
    assert sample.count == 3 and sample.name == "kept"
    sample.save()  # no change from the user, but the bad value must go
    assert manager.get("Sample") == {"name": "kept", "extension": {"k": "v"}}
    assert recorder.names() == []  # values as seen did not change


def test_invalid_value_in_a_file_names_the_file(tmp_path: Path) -> None:
    ConfigurationManager().stop()
    storage = FileStorage(tmp_path)
    text = "SIPSimpleSettings:\n    sip:\n        tcp_port = abc\n    extra = 1\n"
    storage.configuration_file.write_text(text)
    with pytest.raises(InvalidStoredValueError) as info:
        start_configuration(storage)
    message = str(info.value)
    assert str(storage.configuration_file) in message
    assert "sip.tcp_port" in message and "'abc'" in message and "expected an integer" in message
    assert not ConfigurationManager().running  # start_configuration may be retried
    assert storage.configuration_file.read_text() == text
    storage.configuration_file.write_text(text.replace("abc", "5070"))
    settings = start_configuration(storage)
    try:
        assert settings.sip.tcp_port == 5070
        assert storage.configuration_file.read_text() == text.replace("abc", "5070")
        settings.ensure_instance_id()
        written = storage.configuration_file.read_text()
        assert "tcp_port = 5070" in written and "extra = 1" in written  # unknown key kept
    finally:
        ConfigurationManager().stop()


def test_start_configuration_refuses_a_running_manager(manager: ConfigurationManager) -> None:
    with pytest.raises(ConfigurationError, match="already started"):
        start_configuration(MemoryBackend())
    assert manager.running  # someone else's manager is left alone


def test_failed_save_keeps_changes_unsaved(manager: ConfigurationManager) -> None:
    class FailingBackend(MemoryBackend):
        fail = False

        def save(self, data: dict[str, Any]) -> None:
            if self.fail:
                raise ConfigurationError("disk full")
            super().save(data)

    backend = FailingBackend()
    manager.stop()
    manager.start(backend)
    sample = Sample()
    sample.save()
    sample.count = 5
    backend.fail = True
    with pytest.raises(ConfigurationError, match="disk full"):
        sample.save()
    with pytest.raises(ObjectNotFoundError):
        manager.get(("Sample", "count"))  # in-memory tree rolled back
    backend.fail = False
    sample.save()
    assert backend.load() == {"Sample": {"count": "5"}}


def test_sipsimple_settings_defaults(manager: ConfigurationManager) -> None:
    settings = SIPSimpleSettings()
    assert settings.user_agent == f"sipsimple {__version__}"
    assert settings.instance_id is None  # generated by the first save
    assert settings.default_account is None
    assert settings.audio.sample_rate == 48000
    assert settings.audio.input_device == "system_default"
    assert settings.audio.echo_canceller.enabled is True
    assert settings.rtp.port_range == PortRange(16384, 32767)
    assert settings.rtp.timeout == 30
    assert list(settings.rtp.audio_codec_list) == ["opus", "G722", "PCMU", "PCMA"]
    assert list(settings.sip.transport_list) == ["tls", "tcp", "udp"]
    assert (settings.sip.udp_port, settings.sip.tcp_port, settings.sip.tls_port) == (0, 0, 0)
    assert settings.sip.invite_timeout == 90
    assert settings.tls.verify_server is True
    assert settings.tls.ca_list is None
    assert settings.dns.nameservers == ()
    assert settings.logs.trace_sip is False and settings.logs.trace_notifications is False
    assert settings.file_transfer.directory == "~/Downloads"


def test_instance_id_is_generated_once_and_persisted(tmp_path: Path) -> None:
    manager = ConfigurationManager()
    manager.stop()
    storage = FileStorage(tmp_path)
    settings = start_configuration(storage)
    assert settings.instance_id is None
    assert not storage.configuration_file.exists()  # loading writes nothing
    first = settings.ensure_instance_id()
    assert first.startswith("urn:uuid:") and settings.instance_id == first
    assert first in storage.configuration_file.read_text()
    manager.stop()
    written = storage.configuration_file.stat().st_mtime_ns
    settings = start_configuration(FileStorage(tmp_path))
    assert settings.instance_id == first
    assert settings.ensure_instance_id() == first
    assert storage.configuration_file.stat().st_mtime_ns == written  # already stored
    manager.stop()


def test_first_save_generates_the_instance_id(manager: ConfigurationManager) -> None:
    settings = SIPSimpleSettings()
    settings.sip.invite_timeout = 60
    settings.save()
    assert settings.instance_id is not None and settings.instance_id.startswith("urn:uuid:")
    assert manager.get(("SIPSimpleSettings", "instance_id")) == settings.instance_id


def test_ensure_instance_id_survives_a_failing_save(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class ReadOnly(MemoryBackend):
        def save(self, data: dict[str, Any]) -> None:
            raise ConfigurationError("read-only")

    manager = ConfigurationManager()
    manager.stop()
    try:
        settings = start_configuration(ReadOnly())
        instance_id = settings.ensure_instance_id()
        assert instance_id.startswith("urn:uuid:") and "read-only" in caplog.text
        assert settings.ensure_instance_id() == instance_id  # stable for this run
    finally:
        manager.stop()


def test_nameservers_take_text_items(manager: ConfigurationManager) -> None:
    settings = SIPSimpleSettings()
    settings.dns.nameservers = ["127.0.0.1:5353", NameserverAddress("::1")]
    assert str(settings.dns.nameservers) == "127.0.0.1:5353, [::1]"
    settings.dns.fallback_nameservers = ("192.0.2.53",)
    assert settings.dns.fallback_nameservers == (NameserverAddress("192.0.2.53"),)
    with pytest.raises(ValueError, match=r"dns\.nameservers: .*must be an IP address"):
        settings.dns.nameservers = ["dns.example.com"]
    with pytest.raises(TypeError, match=r"dns\.nameservers: .*IP address\[:port\]"):
        settings.dns.nameservers = [53]
    assert str(settings.dns.nameservers) == "127.0.0.1:5353, [::1]"


def test_file_storage_round_trip(tmp_path: Path, recorder: Recorder) -> None:
    manager = ConfigurationManager()
    manager.stop()
    manager.start(FileStorage(tmp_path).configuration_backend)
    settings = SIPSimpleSettings()
    settings.sip.invite_timeout = 60
    settings.user_agent = 'odd, "agent" # with\nnewline '
    set_setting_string(settings, "dns.nameservers", "127.0.0.1:5353, ::1")
    settings.tls.ca_list = "/etc/ssl/ca.pem"
    settings.save()
    account = AccountSettings("alice@example.com")
    account.auth.password = "s3cr3t, with comma"
    account.sip.outbound_proxy = SIPProxyAddress("proxy.example.com", 5061, "tls")
    account.rtp.encryption.key_negotiation = "sdes_mandatory"
    account.save()
    manager.stop()

    manager.start(FileStorage(tmp_path).configuration_backend)
    loaded = SIPSimpleSettings()
    assert loaded is not settings
    assert loaded.sip.invite_timeout == 60
    assert loaded.user_agent == 'odd, "agent" # with\nnewline '
    assert str(loaded.dns.nameservers) == "127.0.0.1:5353, [::1]"
    assert loaded.tls.ca_list == "/etc/ssl/ca.pem"
    account = AccountSettings("alice@example.com")
    assert account.auth.password == "s3cr3t, with comma"
    assert account.sip.outbound_proxy == SIPProxyAddress("proxy.example.com", 5061, "tls")
    assert account.rtp.encryption.key_negotiation == "sdes_mandatory"
    assert account.rtp.audio_codec_list is None  # use the global list
    manager.stop()


def test_account_settings_lifecycle(manager: ConfigurationManager, recorder: Recorder) -> None:
    account = AccountSettings("sip:alice@Example.com")
    assert account.id == "alice@example.com"
    assert AccountSettings("alice@example.com") is account
    assert account.sip.register_interval == 600
    assert account.msrp.transport == "tls" and account.msrp.connection_model == "relay"
    assert account.nat_traversal.use_ice is False
    assert account.rtp.encryption.enabled is True
    account.delete()  # never saved: nothing to delete, no notification
    assert recorder.names() == []
    account = AccountSettings("alice@example.com")
    account.save()  # defaults only: the account exists anyway
    assert manager.get_names("Accounts") == ["alice@example.com"]
    account.delete()
    assert recorder.names() == ["CFGSettingsObjectWasCreated", "CFGSettingsObjectWasDeleted"]
    assert manager.get_names("Accounts") == []
    with pytest.raises(ConfigurationError, match="deleted"):
        account.save()
    assert AccountSettings("alice@example.com") is not account
    with pytest.raises(TypeError):
        SIPSimpleSettings().delete()
    with pytest.raises(ValueError):
        AccountSettings("not an address")


def test_duplicate_id_across_classes(manager: ConfigurationManager) -> None:
    class OtherAccount(AccountSettings):
        pass

    keep = AccountSettings("bob@example.com")
    with pytest.raises(DuplicateIDError):
        OtherAccount("bob@example.com")
    assert keep.id == "bob@example.com"


def test_subclass_extends_groups(manager: ConfigurationManager) -> None:
    class MyAccount(AccountSettings):
        class sip(AccountSettings.sip):
            extra = Setting(int, default=1)

    account = MyAccount("carol@example.com")
    assert account.sip.extra == 1 and account.sip.register_interval == 600
    assert "sip.extra" in setting_keys(account)


def test_dotted_key_access(manager: ConfigurationManager) -> None:
    settings = SIPSimpleSettings()
    set_setting_string(settings, "sip.invite_timeout", "60")
    assert settings.sip.invite_timeout == 60
    assert get_setting(settings, "sip.invite_timeout") == 60
    assert get_setting_string(settings, "rtp.audio_codec_list") == "opus, G722, PCMU, PCMA"
    set_setting_string(settings, "tls.ca_list", "")  # empty: None where nillable
    assert settings.tls.ca_list is None
    set_setting(settings, "sip.udp_port", 5060)
    assert settings.sip.udp_port == 5060
    with pytest.raises(UnknownSettingError, match=r"did you mean sip\.invite_timeout"):
        set_setting_string(settings, "sip.invite_timout", "5")
    with pytest.raises(UnknownSettingError, match="is a group"):
        get_setting(settings, "sip")
    with pytest.raises(InvalidValueError, match=r"sip\.invite_timeout") as info:
        set_setting_string(settings, "sip.invite_timeout", "-5")
    assert isinstance(info.value, ValueError)
    with pytest.raises(InvalidValueError):
        set_setting_string(settings, "sip.transport_list", "")
    assert settings.sip.invite_timeout == 60
    reset_setting(settings, "sip.invite_timeout")
    assert settings.sip.invite_timeout == 90
    states = setting_states(settings)
    assert states["rtp.audio_codec_list"] == ["opus", "G722", "PCMU", "PCMA"]
    assert states["tls.ca_list"] is None
    assert "audio.muted" not in states  # runtime settings are not stored


def test_start_accepts_a_storage_or_a_backend(tmp_path: Path) -> None:
    manager = ConfigurationManager()
    manager.stop()
    storage = FileStorage(tmp_path)
    manager.start(storage)
    assert manager.backend is storage.configuration_backend
    manager.stop()
    manager.start(storage.configuration_backend)
    assert manager.backend is storage.configuration_backend
    manager.stop()
    with pytest.raises(TypeError):
        manager.start(object())  # type: ignore[arg-type]
    assert not manager.running
