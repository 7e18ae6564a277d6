"""Encryption at rest: MultiFernet from TOCSIN_ENCRYPTION_KEY, or a key derived from SECRET_KEY."""
import pytest
from cryptography.fernet import Fernet

from webapp.services import crypto

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def test_encrypt_then_decrypt_returns_the_text(app):
    token = crypto.encrypt("whsec_c2VjcmV0LXZhbHVl")
    assert crypto.decrypt(token) == "whsec_c2VjcmV0LXZhbHVl"


def test_token_does_not_contain_the_clear_text(app):
    token = crypto.encrypt("Bearer top-secret-header-value")
    assert "top-secret" not in token
    assert crypto.encrypt("Bearer top-secret-header-value") != token  # fresh IV every time


def test_key_is_derived_from_secret_key_when_no_encryption_key_is_set(app):
    app.config["TOCSIN_ENCRYPTION_KEY"] = ""
    token = crypto.encrypt("hello")
    derived = Fernet(crypto.derive_key(app.config["SECRET_KEY"]))
    assert derived.decrypt(token.encode()) == b"hello"


def test_a_different_secret_key_cannot_read_derived_tokens(app):
    token = crypto.encrypt("hello")
    app.config["SECRET_KEY"] = "another-secret-key"
    with pytest.raises(crypto.DecryptionError, match="TOCSIN_ENCRYPTION_KEY"):
        crypto.decrypt(token)


def test_new_values_use_the_first_listed_key(app):
    app.config["TOCSIN_ENCRYPTION_KEY"] = f"{NEW_KEY}, {OLD_KEY}"
    token = crypto.encrypt("hello")
    assert Fernet(NEW_KEY.encode()).decrypt(token.encode()) == b"hello"


def test_value_encrypted_with_an_old_key_decrypts_after_a_new_key_is_listed_first(app):
    app.config["TOCSIN_ENCRYPTION_KEY"] = OLD_KEY
    token = crypto.encrypt("written last year")
    app.config["TOCSIN_ENCRYPTION_KEY"] = f"{NEW_KEY},{OLD_KEY}"
    assert crypto.decrypt(token) == "written last year"
    rotated = crypto.rotate(token)
    assert Fernet(NEW_KEY.encode()).decrypt(rotated.encode()) == b"written last year"


def test_rows_written_before_an_encryption_key_was_set_still_decrypt(app):
    app.config["TOCSIN_ENCRYPTION_KEY"] = ""
    token = crypto.encrypt("from the derived key")
    app.config["TOCSIN_ENCRYPTION_KEY"] = NEW_KEY
    assert crypto.decrypt(token) == "from the derived key"


def test_a_value_from_an_unlisted_key_fails_with_a_clear_error(app):
    token = Fernet(Fernet.generate_key()).encrypt(b"x").decode()
    with pytest.raises(crypto.DecryptionError, match="not in TOCSIN_ENCRYPTION_KEY"):
        crypto.decrypt(token)


def test_a_malformed_encryption_key_names_the_setting(app):
    app.config["TOCSIN_ENCRYPTION_KEY"] = f"{NEW_KEY},not-a-key"
    with pytest.raises(ValueError, match="TOCSIN_ENCRYPTION_KEY entry 2"):
        crypto.encrypt("x")
