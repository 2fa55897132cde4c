"""Parameters of the drift simulator, each next to the published source it comes from.

:mod:`fraudscore.fingerprint.simulate` reads every number here. A parameter is a
:class:`Param`: its value, the key of its source in :data:`SOURCES` and a note
saying how the value follows from the source. Where no published figure exists
the source is ``"assumption"`` and the note says what was assumed, so a reader
can tell measured facts from modelling choices. :func:`parameter_table` renders
the table that ``docs/fingerprints.md`` shows.

Examples
--------
>>> PARAMS["chrome_release_days"].value, PARAMS["chrome_release_days"].source
(28.0, 'chrome_schedule')
>>> all(p.source in SOURCES for p in PARAMS.values())
True
>>> parameter_table().splitlines()[0].startswith("| parameter")
True
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Param", "PARAMS", "SOURCES", "parameter_table", "value"]

#: Sources, by key (cited in ``docs/fingerprints.md``).
SOURCES: dict[str, str] = {
    "fp_stalker": "A. Vastel, P. Laperdrix, W. Rudametkin, R. Rouvoy. FP-STALKER: Tracking Browser Fingerprint "
                  "Evolutions. IEEE S&P 2018, pp. 728-741 (98,598 fingerprints of 1,905 browser instances; "
                  "fingerprints change 'from every few hours to days'; browsers tracked 54.48 days on average, "
                  "26 % over 100 days; changes come from browser updates, font installs, screen, timezone and "
                  "language settings).",
    "amiunique": "P. Laperdrix, W. Rudametkin, B. Baudry. Beauty and the Beast: Diverting Modern Web Browsers to "
                 "Build Unique Browser Fingerprints. IEEE S&P 2016 (AmIUnique: 118,934 fingerprints; desktop "
                 "fingerprints more unique than mobile ones; fonts and user agent the most discriminating "
                 "attributes; mobile fingerprints rely on the user agent and canvas).",
    "hiding_crowd": "A. Gomez-Boix, P. Laperdrix, B. Baudry. Hiding in the Crowd: an Analysis of the Effectiveness "
                    "of Browser Fingerprinting at Large Scale. WWW 2018 (2,067,942 fingerprints from one large "
                    "French website: about a third unique overall, mobile fingerprints far less unique than "
                    "desktop ones).",
    "adf": "adF: a Novel System for Measuring Web Fingerprinting through Ads (arXiv 2311.08769, 2023): 5.40 "
           "million ad impressions; about 66 % of desktop and 40 % of mobile devices uniquely fingerprintable.",
    "fingerprintjs": "FingerprintJS (open-source edition) documentation: 40-60 % identification accuracy; two "
                     "identical browsers on identical devices cannot be told apart.",
    "pugliese": "G. Pugliese, C. Riess, F. Gassmann, Z. Benenson. Long-Term Observation on Browser "
                "Fingerprinting: Users' Trackability and Perspective. PoPETs 2020(2) (3-year study, 1,300 users, "
                "88,000 measurements; separate feature sets for mobile and desktop).",
    "chrome_schedule": "Chromium release cycle: a new stable major every 4 weeks since Chrome 94 (2021); Edge "
                       "follows Chromium; staged roll-outs take days.",
    "firefox_schedule": "Mozilla release calendar: a new Firefox major every 4 weeks since 2020.",
    "apple_schedule": "Apple releases: one iOS / macOS / Safari major a year (September), point releases x.1-x.6 "
                      "about every 6-8 weeks; Safari's version follows the OS on iOS.",
    "ua_reduction": "Chrome User-Agent reduction (Chrome 110+): Android user agents report 'Android 10; K', "
                    "desktop ones a frozen OS version, so the UA no longer separates phone models.",
    "opensignal": "Opensignal, Time on Wifi analyses: smartphone users spent more than half of their time on Wi-Fi "
                  "in 46 of 95 countries (Global State of Mobile Networks, 2016: 822,556 users, May-July 2016); "
                  "2020 weekly figures before the lockdowns: United States 56.2 %, Hong Kong 55.3 %, Germany "
                  "66.4 %, Spain 61.9 %, Canada 69.9 %, India 10.2 % (China not covered).",
    "cell_spotting": "J. P. Rula, F. E. Bustamante, M. Steiner. Cell Spotting: Studying the Role of Cellular Networks "
                     "in the Internet. IMC 2017 (Akamai vantage point: over half of mobile-device traffic goes over "
                     "Wi-Fi; cellular traffic 16.2 % of the CDN's traffic, 12.1 % in France to ~96 % in Ghana; "
                     "350 thousand cellular /24s).",
    "richter_cgn": "P. Richter, F. Wohlfart, N. Vallina-Rodriguez, M. Allman, R. Bush, A. Feldmann, C. Kreibich, "
                   "N. Weaver, V. Paxson. A Multi-perspective Analysis of Carrier-Grade NAT Deployment. IMC 2016 "
                   "(BitTorrent DHT + Netalyzr: CGN deployed by the large majority of the cellular networks "
                   "measured and by a minority of the non-cellular eyeball ISPs, a share that was growing; one "
                   "public address translates many independent subscribers in disparate locations).",
    "cloudflare_cgnat": "Cloudflare research on CGNAT (2025, as reported in the press): a CGNAT can serve over 100 "
                        "devices per public IPv4 address and scale to millions of users.",
    "padmanabhan": "R. Padmanabhan, A. Dhamdhere, E. Aben, kc claffy, N. Spring. Reasons Dynamic Addresses Change. "
                   "IMC 2016 (3,038 RIPE Atlas probes in 929 ASes, 2015: 20 ISPs periodically reassign addresses "
                   "after a fixed period, typically a multiple of 24 hours; other changes correlate with outages at "
                   "the customer premises; almost half of the changes on one CPE go to an entirely different "
                   "BGP-routed prefix).",
    "china_census": "National Bureau of Statistics of China, 7th national census (2020): 494.16 million family "
                    "households, 2.62 persons per family household on average (3.10 in 2010).",
    "assumption": "A modelling assumption of this simulator (no published figure); the note says what it is.",
}


@dataclass(frozen=True)
class Param:
    """One simulator parameter: value, source key (:data:`SOURCES`) and how it was derived."""

    value: float
    source: str
    note: str


P = Param
#: Every parameter of the simulator. Rates are per device and per day unless noted.
PARAMS: dict[str, Param] = {
    # --- browser and OS release cadence -------------------------------------------------------
    "chrome_release_days": P(28.0, "chrome_schedule", "Chrome / Edge stable major every 4 weeks"),
    "firefox_release_days": P(28.0, "firefox_schedule", "Firefox major every 4 weeks"),
    "apple_point_release_days": P(45.0, "apple_schedule", "iOS / Safari point release every ~6-7 weeks"),
    "apple_major_release_days": P(365.0, "apple_schedule", "one iOS / macOS major a year"),
    "wechat_release_days": P(30.0, "assumption", "WeChat's built-in browser (XWEB) updates about monthly"),
    "app_release_days": P(14.0, "assumption", "the lender's app ships every two weeks"),
    "update_lag_mean_days": P(4.0, "chrome_schedule",
                              "auto-updating browsers reach a device a few days after release (staged roll-out)"),
    "ios_update_lag_mean_days": P(12.0, "apple_schedule", "iOS updates are user-confirmed: about two weeks"),
    "laggard_share": P(0.15, "assumption", "share of devices that update a month or more late"),
    "laggard_lag_days": P(35.0, "assumption", "extra delay of a laggard"),
    # --- web attributes that change (FP-STALKER's change sources) -------------------------------
    "font_change_rate_desktop": P(1 / 40, "fp_stalker",
                                  "font installs are a frequent desktop change; one every ~6 weeks"),
    "font_removal_share": P(0.15, "assumption", "share of font changes that remove fonts instead of adding"),
    "font_list_share": P(0.7, "assumption",
                         "share of browsers whose fingerprinting script reports the font list, not only its hash"),
    "desktop_default_fonts_share": P(0.30, "amiunique",
                                     "desktops with only the OS image's fonts share one list (not unique)"),
    "driver_update_rate_windows": P(1 / 90, "fp_stalker",
                                    "GPU driver updates change the WebGL renderer / canvas; ~quarterly"),
    "renderer_has_driver_share": P(0.5, "assumption",
                                   "share of Windows renderer strings that carry a driver-dependent suffix"),
    "canvas_engine_epoch_releases": P(3.0, "fp_stalker",
                                      "canvas renderings change with some browser updates: every ~3 majors"),
    "screen_toggle_share_laptop": P(0.3, "fp_stalker",
                                    "laptops docked to an external screen: resolution is a context change"),
    "screen_toggle_rate": P(1 / 6, "fp_stalker", "a docking laptop switches screens every ~6 days"),
    "laptop_share": P(0.6, "assumption", "share of desktops that are laptops"),
    "travel_rate": P(1 / 150, "fp_stalker", "timezone changes are rare (travel): one trip every ~5 months"),
    "travel_days": P(5.0, "assumption", "mean trip length; the timezone changes back afterwards"),
    "language_change_rate": P(1 / 400, "fp_stalker", "language settings change rarely"),
    # --- app attributes ------------------------------------------------------------------------
    "android_id_reset_rate": P(1 / 1500, "assumption", "factory reset (new Android ID) every ~4 years"),
    "idfv_reset_rate": P(1 / 500, "assumption", "iOS IDFV changes when every app of the vendor is removed"),
    "imei_share": P(0.3, "assumption", "share of Android apps that may read the IMEI (older OS / permission)"),
    "sim_change_rate": P(1 / 400, "assumption", "SIM operator changes rarely"),
    # --- populations -----------------------------------------------------------------------------
    "mobile_share_web": P(0.73, "hiding_crowd",
                          "mobile share of web traffic for a mobile-first lender (assumption within the range "
                          "the studies report for mobile-heavy sites)"),
    "mobile_default_settings_share": P(0.6, "adf",
                                       "share of mobile browsers with default settings (only ~40 % of mobile "
                                       "devices are unique in adF)"),
    "activity_sigma": P(1.3, "assumption", "log-normal spread of per-device activity (realistic scenarios)"),
    "activity_sigma_heavy": P(2.2, "assumption", "heavy-tailed scenario: a few devices produce most events"),
    "median_events_per_day": P(0.12, "assumption", "a typical device is seen about once a week"),
    "cellular_share": P(0.5, "assumption", "share of mobile observations on a carrier network (IP changes)"),
    # --- networks (the /24 an observation comes from; scenarios "*-net") ----------------------------
    "wifi_share_mobile": P(0.55, "opensignal",
                           "share of a phone's observations on Wi-Fi (its home /24), the rest on the carrier's "
                           "network; Opensignal: over half in 46 of 95 countries, 55-70 % in the US, Hong Kong, "
                           "Spain, Germany, Canada (China not measured); Cell Spotting: over half of mobile "
                           "traffic on Wi-Fi"),
    "cgnat_subscribers_per_address": P(100.0, "cloudflare_cgnat",
                                       "subscribers sharing one public address behind a carrier-grade NAT"),
    "lender_penetration": P(0.02, "assumption",
                            "share of a network's subscribers (lines, SIMs) that are the lender's applicants "
                            "within the period: sets how many of the lender's devices one /24 shows"),
    "fixed_cgnat_share": P(0.10, "richter_cgn",
                           "share of residential lines behind a carrier-grade NAT (a minority of fixed ISPs "
                           "deploy CGN; the share of lines is an assumption)"),
    "lines_per_residential_24": P(254.0, "assumption",
                                  "one public address per residential line: a /24 of a dynamic pool serves ~254 lines"),
    "household_size": P(2.62, "china_census", "persons per household (7th census, 2020)"),
    "household_second_device_share": P(0.15, "assumption",
                                       "share of the lender's devices that live in a household already holding "
                                       "one (another member applies, a second phone)"),
    "household_same_model_share": P(0.3, "assumption",
                                    "share of such second phones of the same model, with default settings, as "
                                    "the household's first (families buy the same phone)"),
    "renumber_periodic_share": P(0.2, "padmanabhan",
                                 "share of residential lines whose ISP reassigns addresses periodically (20 ISPs "
                                 "in the study; the share of lines is an assumption)"),
    "renumber_period_days": P(1.0, "padmanabhan", "the period of such reassignments: typically a multiple of 24 h"),
    "address_change_rate": P(1 / 30, "padmanabhan",
                             "other lines change address after outages at the customer premises; about monthly "
                             "(assumption for the rate)"),
    "renumber_new_prefix_share": P(0.5, "padmanabhan",
                                   "share of address changes to an entirely different routed prefix (else to "
                                   "another /24 of the line's own prefix: a block of 16 /24s, an assumption)"),
    "office_devices_per_24": P(3.0, "assumption",
                               "the lender's desktops seen on one office /24 (colleagues behind one NAT)"),
}


def value(name: str) -> float:
    """The value of one parameter.

    Examples
    --------
    >>> value("firefox_release_days")
    28.0
    """
    return PARAMS[name].value


def parameter_table() -> str:
    """A Markdown table of every parameter, its value, source and note."""
    lines = ["| parameter | value | source | note |", "|---|---|---|---|"]
    for name, p in PARAMS.items():
        v = f"{p.value:.4g}" if p.value >= 0.01 or p.value == 0 else f"1/{1 / p.value:.0f}"
        lines.append(f"| `{name}` | {v} | {p.source} | {p.note} |")
    return "\n".join(lines)
