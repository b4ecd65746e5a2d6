"""bcx-replay's Bitfinex side: recordings read in file order (chanIds learned from recorded `subscribed` events),
this connection's chanIds, sequence and times in the frames it plays, te then tu, heartbeats, refusals, loops."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from bcx_tracker.bitfinex import FLAGS, Bitfinex
from bcx_tracker.bitfinex_replay import BitfinexReplay, RecordingReader
from bcx_tracker.exchange import Entry, MalformedMessage, TickEvent
from bcx_tracker.exchanges import REPLAY_PROTOCOLS, replay_protocol
from bcx_tracker.recorder import read_entries, recording_line, scan_recording
from bcx_tracker.sample import ProductModel, _Walk, bitfinex_frames, bitfinex_subscribed

BTC = "bitfinex:BTC-USD"
SUBSCRIBED = [
    '{"event":"conf","status":"OK","flags":98304}',
    '{"event":"subscribed","channel":"trades","chanId":19111,"symbol":"tBTCUSD","pair":"BTCUSD"}',
    '{"event":"subscribed","channel":"ticker","chanId":224555,"symbol":"tBTCUSD","pair":"BTCUSD"}',
]
TE = '[19111,"te",[401597395,1574694478808,-0.005,7245.30],7,1574694478810]'
TU = '[19111,"tu",[401597395,1574694478808,-0.005,7245.30],8,1574694478812]'
TICKER = (
    "[224555,[7616.5,31.89055171,7617.5,43.358118629999986,-550.8,-0.0674,7617.1,8314.71,8257.8,7500],9,1574694478900]"
)
SNAPSHOT = (
    "[19111,[[669899159,1574694470435,166.391496,0.076989],[669899158,1574694470000,-1,0.076985]],1,1574694478000]"
)


def read(*lines: str) -> list[Entry | None]:
    reader = BitfinexReplay.reader()
    return [reader(line) for line in lines]


def test_registered_under_its_path():
    assert REPLAY_PROTOCOLS["bitfinex"] is BitfinexReplay
    assert replay_protocol("/bitfinex") is BitfinexReplay


def test_a_recording_is_read_in_file_order_with_the_recorded_chan_ids():
    entries = read(*SUBSCRIBED, SNAPSHOT, TE, TU, TICKER, '[19111,"hb",10,1574694479000]')
    assert entries[:3] == [None, None, None]
    assert entries[3] == Entry(SNAPSHOT, "trades", BTC, 1574694478000, 669899159, None, 669899158)
    assert entries[4] == Entry(TE, "trades", BTC, 1574694478810, 401597395, None, 401597395)
    assert entries[5] is None  # tu: its te plays it
    assert entries[6] == Entry(TICKER, "ticker", BTC, 1574694478900, 0, None)
    assert entries[7] is None  # heartbeats come from the connection
    assert read(*SUBSCRIBED, "[19111,[],1,1574694478000]") == [None, None, None, None]  # a pair without trades yet


def test_frames_without_flags_take_the_trades_time_and_a_ticker_the_last_time_seen():
    reader = RecordingReader()
    reader(SUBSCRIBED[1])
    reader(SUBSCRIBED[2])
    assert reader("[224555,[1,1,2,1,0,0,0,0,0,0]]") is None  # no time yet: not played
    assert reader('[19111,"te",[5,1000,1,2]]').time_ms == 1000
    assert reader("[224555,[1,1,2,1,0,0,0,0,0,0]]").time_ms == 1000


def test_a_frame_whose_channel_the_recording_never_explained_is_malformed():
    with pytest.raises(MalformedMessage, match="19111"):
        BitfinexReplay.entry(TE)
    with pytest.raises(MalformedMessage):
        read(SUBSCRIBED[1], '[19111,"te",["x",1,2,3]]')


def test_scan_and_read_a_mixed_recording(tmp_path):
    path = tmp_path / "rec.jsonl"
    lines = [recording_line("bitfinex", frame) for frame in (*SUBSCRIBED, SNAPSHOT, TE, TU, TICKER)]
    path.write_text("\n".join(lines) + "\n")
    info = scan_recording(path)
    assert (info.count, info.products, info.trade_id_spans) == (
        3,
        frozenset({BTC}),
        {"bitfinex": 669899159 - 401597395 + 1},
    )
    assert [e.channel for e in info.index.entries(path)] == ["trades", "trades", "ticker"]
    assert [e.channel for e in read_entries(path)] == ["trades", "trades", "ticker"]


def connection(*products: str) -> BitfinexReplay:
    return BitfinexReplay(products or ("BTC-USD",))


def subscribe(replay: BitfinexReplay, channel: str, symbol: str = "tBTCUSD", subs=None) -> dict:
    request = replay.request(json.dumps({"event": "subscribe", "channel": channel, "symbol": symbol}), subs or {})
    [reply] = request.replies
    return json.loads(reply) | {"_subscribe": request.subscribe}


def test_greeting_conf_and_ping():
    replay = connection()
    [info] = replay.greeting()
    assert json.loads(info) | {"serverId": ""} == {
        "event": "info",
        "version": 2,
        "serverId": "",
        "platform": {"status": 1},
    }
    [conf] = replay.request(json.dumps({"event": "conf", "flags": FLAGS}), {}).replies
    assert json.loads(conf) == {"event": "conf", "status": "OK", "flags": FLAGS}
    [pong] = replay.request('{"event":"ping","cid":1234}', {}).replies
    assert json.loads(pong) == {"event": "pong", "cid": 1234}
    [error] = replay.request("nonsense", {}).replies
    assert json.loads(error)["event"] == "error"


def test_subscribe_assigns_chan_ids_of_its_own_distinct_across_connections():
    first, second = connection(), connection()
    trades = subscribe(first, "trades")
    ticker = subscribe(first, "ticker")
    again = subscribe(second, "trades")
    assert trades["_subscribe"] == {"trades": {"BTC-USD"}}
    assert (trades["event"], trades["channel"], trades["symbol"], trades["pair"]) == (
        "subscribed",
        "trades",
        "tBTCUSD",
        "BTCUSD",
    )
    assert len({trades["chanId"], ticker["chanId"], again["chanId"]}) == 3
    assert Bitfinex(["BTC-USD"]).parse(json.dumps({k: v for k, v in trades.items() if k != "_subscribe"}))


def test_unknown_symbols_channels_and_duplicates_get_bitfinexs_errors():
    replay = connection()
    refused = subscribe(replay, "trades", "tFOOUSD")
    assert (refused["event"], refused["code"], refused["symbol"], refused["_subscribe"]) == (
        "error",
        10300,
        "tFOOUSD",
        {},
    )
    assert subscribe(replay, "book")["code"] == 10302
    assert subscribe(replay, "trades", subs={"trades": frozenset({"BTC-USD"})})["code"] == 10301
    adapter = Bitfinex(["BTC-USD"])
    [failed] = adapter.parse(json.dumps({k: v for k, v in refused.items() if k != "_subscribe"}))
    assert failed.product == "bitfinex:FOO-USD"


def test_colon_and_ust_symbols_are_served():
    replay = connection("AVAX-USD", "BTC-USDT")
    assert subscribe(replay, "trades", "tAVAX:USD")["_subscribe"] == {"trades": {"AVAX-USD"}}
    assert subscribe(replay, "ticker", "tBTCUST")["_subscribe"] == {"ticker": {"BTC-USDT"}}


def played(replay: BitfinexReplay, *lines: str) -> list[list]:
    frames = []
    for entry in filter(None, read(*SUBSCRIBED, *lines)):
        frames += [json.loads(frame, parse_float=str) for frame in replay.frames(entry)]
    return frames


def test_frames_carry_this_connections_chan_id_sequence_and_time_and_te_brings_tu():
    replay = connection()
    replay.request(json.dumps({"event": "conf", "flags": FLAGS}), {})
    trades, ticker = subscribe(replay, "trades")["chanId"], subscribe(replay, "ticker")["chanId"]
    frames = played(replay, SNAPSHOT, TE, TU, TICKER)
    trade = [401597395, 1574694478808, "-0.005", "7245.30"]  # digits as recorded
    assert frames == [
        [
            trades,
            [[669899159, 1574694470435, "166.391496", "0.076989"], [669899158, 1574694470000, -1, "0.076985"]],
            1,
            1574694478000,
        ],
        [trades, "te", trade, 2, 1574694478810],
        [trades, "tu", trade, 3, 1574694478810],
        [
            ticker,
            [
                "7616.5",
                "31.89055171",
                "7617.5",
                "43.358118629999986",
                "-550.8",
                "-0.0674",
                "7617.1",
                "8314.71",
                "8257.8",
                7500,
            ],
            4,
            1574694478900,
        ],
    ]
    assert replay.heartbeats({}, {}, 1574694479000) == [
        f'[{trades},"hb",5,1574694479000]',
        f'[{ticker},"hb",6,1574694479000]',
    ]


def test_without_flags_frames_are_bare_and_an_unsubscribed_channel_plays_nothing():
    replay = connection()
    chan_id = subscribe(replay, "trades")["chanId"]
    assert played(replay, TE, TICKER) == [
        [chan_id, "te", [401597395, 1574694478808, "-0.005", "7245.30"]],
        [chan_id, "tu", [401597395, 1574694478808, "-0.005", "7245.30"]],
    ]
    [reply] = replay.request(json.dumps({"event": "unsubscribe", "chanId": chan_id}), {}).replies
    assert json.loads(reply) == {"event": "unsubscribed", "status": "OK", "chanId": chan_id}
    assert played(replay, TE) == []


def test_a_later_pass_moves_ids_and_times_keeping_the_digits():
    [snapshot, te] = filter(None, read(*SUBSCRIBED, SNAPSHOT, TE))
    moved = BitfinexReplay.shifted(te, 1000, 10, 99)
    assert (moved.time_ms, moved.trade_id, moved.first_trade_id) == (te.time_ms + 1000, 401597405, 401597405)
    replay = connection()
    chan_id = subscribe(replay, "trades")["chanId"]
    assert replay.frames(moved)[0] == f'[{chan_id},"te",[401597405,1574694479808,-0.005,7245.30]]'
    moved = BitfinexReplay.shifted(snapshot, 1000, 10, 99)
    assert json.loads(replay.frames(moved)[0])[1][1][:2] == [669899168, 1574694471000]
    assert BitfinexReplay.shifted(te, 0, 0, 0) is te


def test_the_samples_frames_are_read_by_the_replay_and_parsed_by_the_adapter():
    walk = _Walk(ProductModel("bitfinex:BTC-USD", 9_725_000, 8, 0.004, 1.0, 0, 0, 8_231.5, 261_377.9), 42, 0)
    ticker = walk.ticker(1_700_000_000_000_000, 1.0)
    lines = [*bitfinex_subscribed({"tBTCUSD": (7, 8)}), *bitfinex_frames((7, 8), ticker, 123)]
    entries = read(*lines)
    assert [(e.channel, e.time_ms) for e in entries if e] == [
        ("ticker", 1_700_000_000_000),
        ("trades", 1_700_000_000_000),
    ]
    adapter = Bitfinex(["BTC-USD"])
    events = [event for line in lines for event in adapter.parse(line)]
    [tick] = [event.tick for event in events if isinstance(event, TickEvent)]
    assert (tick.trade_id, tick.time_ms, Decimal(tick.price)) == (123, 1_700_000_000_000, Decimal(ticker["price"]))
    assert Decimal(tick.size) == Decimal(ticker["last_size"])
    assert (Decimal(tick.bid), Decimal(tick.ask)) == (Decimal(ticker["best_bid"]), Decimal(ticker["best_ask"]))
    assert lines[-1].split(",")[3].startswith("-") == (ticker["side"] == "sell")
