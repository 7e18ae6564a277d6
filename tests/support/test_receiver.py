"""The loopback receiver that delivery tests send to records what it is sent."""


def test_receiver_records_a_post(receiver):
    import requests
    receiver.respond(201)
    assert requests.post(receiver.url(), data=b"x", timeout=5).status_code == 201
    assert receiver.wait_for(1)[0].body == b"x"
