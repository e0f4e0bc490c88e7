"""The public signatures of sgd_sde.stability (a contract outside code calls)."""


def test_public_api_contract():
    import inspect

    import sgd_sde.stability as st

    assert list(inspect.signature(st.escape_time).parameters)[:5] == ["key", "landscape", "dynamics", "start", "end"]
    for kw in ("noise", "n_particles", "max_steps"):
        assert inspect.signature(st.escape_time).parameters[kw].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(st.stability_radius).parameters)[:4] == ["key", "landscape", "dynamics", "minimum"]
    for kw in ("noise", "n_steps", "delta", "basin"):
        assert inspect.signature(st.stability_radius).parameters[kw].kind is inspect.Parameter.KEYWORD_ONLY
    assert list(inspect.signature(st.mean_first_passage_time).parameters)[:4] == [
        "potential", "temperature", "start", "end"]
