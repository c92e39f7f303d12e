"""General-purpose API examples: a catalogue of function schemas of the kind apps and Python
libraries expose (maths, geometry, statistics, physics, chemistry, finance, units, text, dates,
geography, travel, food, sports, media, shopping, HR and ticketing, files, health, science), each
with a few query templates and value samplers. `example(r, today)` picks a tool uniformly and
returns (query, calls); about a quarter of the requests are parallel, the same function called
2-4 times with different values in one utterance, the calls in the order mentioned. Values are
copied from the query or normalised the way a careful caller would (dates to ISO from `today`,
"$20,000" to 20000, "8%" to 0.08 where the description asks for a fraction, "two" to 2, "miles"
to "mi"); an optional argument appears only when the query mentions it.

A template is a string, or (string, constants) where the constants are arguments its wording
implies ("on the Moon" -> gravity 1.62). Its {fields} are sampler keys; a field that is not a
parameter (the spoken equation {eq}) stands for the parameters sampled with it. `par` lists
(head, fragment[, constants]) forms for parallel requests: the fragment's fields vary per call,
the head's stay fixed, {LIST} is where the fragments go. Written from scratch: BFCL is
evaluation data only (see decontaminate.py). `python -m toolcall_model.api_data` self-tests."""

from __future__ import annotations

import datetime as dt
import math
import random
import string

WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
TD = dt.timedelta


# Schema helpers: N number, I integer, S string, B boolean, E string enum, A array ---------------
def _p(kind, d, extra):
    return {"type": kind, **({"description": d} if d else {}), **extra}


def _kind(kind):
    return lambda d=None, **k: _p(kind, d, k)


N, I, S, B = map(_kind, ["number", "integer", "string", "boolean"])  # noqa: E741


def E(values, d=None, **k):
    return _p("string", d, {"enum": list(values), **k})


def A(items, d=None, **k):
    return _p("array", d, {"items": items, **k})


DATE = {"format": "date"}


# Samplers: f(r, today) -> (spoken, value), or a tuple of those for a tuple key ------------------
def _and(r, xs):
    return xs[0] if len(xs) == 1 else ", ".join(xs[:-1]) + r.choice([" and ", ", and " if len(xs) > 2 else " and "]) + xs[-1]


def ch(*opts):
    """One option: a value spoken as itself, or a (spoken, value) pair."""
    def f(r, t):
        o = r.choice(opts)
        return o if isinstance(o, tuple) else (str(o), o)
    return f


def it(lo, hi, words=0.0):
    def f(r, t):
        v = r.randint(lo, hi)
        return (WORDS[v] if v < len(WORDS) and r.random() < words else str(v)), v
    return f


def fl(lo, hi, nd=1, whole=0.4):
    def f(r, t):
        v = r.randint(math.ceil(lo), int(hi)) if r.random() < whole else round(r.uniform(lo, hi), nd)
        return str(v), v
    return f


def pct(*vals):
    """A percentage spoken as such, normalised to a fraction."""
    def f(r, t):
        v = r.choice(vals)
        return f"{v}{r.choice(['%', '%', ' percent'])}", round(v / 100, 6)
    return f


def amt(*vals, dollars=False):
    def f(r, t):
        v = r.choice(vals)
        s = f"{v:,}" if isinstance(v, int) and v >= 1000 and r.random() < 0.6 else str(v)
        return ((f"${s}" if r.random() < 0.75 else f"{s} dollars") if dollars else s), v
    return f


def nums(lo, hi, k=(3, 7), nd=0):
    def f(r, t):
        vs = [r.randint(lo, hi) if not nd or r.random() < 0.3 else round(r.uniform(lo, hi), nd) for _ in range(r.randint(*k))]
        xs = [str(v) for v in vs]
        return (f"[{', '.join(xs)}]" if r.random() < 0.3 else _and(r, xs)), vs
    return f


def strs(pool, k=(2, 4)):
    def f(r, t):
        xs = r.sample(pool, r.randint(*k))
        return _and(r, xs), xs
    return f


def code(fmts, says=("{}",)):
    """An identifier from a pattern (# digit, A letter), maybe spoken with decoration."""
    def f(r, t):
        v = "".join(r.choice(string.digits) if c == "#" else r.choice(string.ascii_uppercase) if c == "A" else c
                    for c in r.choice(fmts))
        return r.choice(says).format(v), v
    return f


def _md(k, d):
    """A date in the coming months, spoken without its year in style k."""
    nth = f"{d.day}{'th' if 10 <= d.day <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d.day % 10, 'th')}"
    return [f"{d:%B} {d.day}", f"{d.day} {d:%B}", f"{d:%B} {nth}", d.isoformat()][k]


def when(r, t):
    """A future day spoken as an adverbial: tomorrow, on Friday, next Friday, in 5 days, on March 3."""
    k = r.random()
    if k < 0.2:
        n, s = 1, "tomorrow"
    elif k < 0.3:
        n, s = 0, "today"
    elif k < 0.55:  # "next Friday" is taken as the coming one, like "on Friday"
        wd = r.randrange(7)
        n = (wd - t.weekday()) % 7 or 7
        s = r.choice(["on {}", "next {}", "this coming {}"]).format(WEEKDAYS[wd])
    elif k < 0.65:
        n = r.randint(2, 14)
        s = f"in {n} days"
    else:
        n = r.randint(2, 150)
        s = "on " + _md(r.randrange(4), t + TD(days=n))
    return s, (t + TD(days=n)).isoformat()


def day(y0, y1, today=0.0):
    """A date with its year (or "today"), spoken in one of several styles."""
    def f(r, t):
        if r.random() < today:
            return "today", t.isoformat()
        d = dt.date(y0, 1, 1) + TD(days=r.randrange((dt.date(y1, 12, 31) - dt.date(y0, 1, 1)).days))
        return r.choice([f"{d:%B} {d.day}, {d.year}", f"{d.day} {d:%B} {d.year}", d.isoformat(), f"{d:%b} {d.day} {d.year}"]), d.isoformat()
    return f


def span(lo=1, hi=14, ahead=(1, 90)):
    """Two days in the coming months, the second lo-hi days after the first, spoken alike."""
    def f(r, t):
        s = t + TD(days=r.randint(*ahead))
        e, k = s + TD(days=r.randint(lo, hi)), r.randrange(4)
        return (_md(k, s), s.isoformat()), (_md(k, e), e.isoformat())
    return f


def two_days(r, t):
    return tuple(sorted([day(2024, 2028)(r, t), day(2024, 2028)(r, t)], key=lambda x: x[1]))


def clock(r, t):
    h, m = r.randint(11, 22), r.choice([0, 0, 15, 30, 45])
    if r.random() < 0.3:
        return f"{h:02d}:{m:02d}", f"{h:02d}:{m:02d}"
    return (f"{h - 12 if h > 12 else h}" + (f":{m:02d}" if m else "") + (" pm" if h >= 12 else " am")), f"{h:02d}:{m:02d}"


def quadratic(r, t):
    a, b, c, sq = r.choice([1, 1, 2, 3, -1, 4, 5]), r.randint(-9, 9), r.randint(-12, 12), r.choice(["x^2", "x²"])
    eq = {1: sq, -1: "-" + sq}.get(a, f"{a}{sq}")
    eq += f" {'+' if b > 0 else '-'} {'' if abs(b) == 1 else abs(b)}x" if b else ""
    eq += f" {'+' if c > 0 else '-'} {abs(c)}" if c else ""
    return (str(a), a), (str(b), b), (str(c), c), (eq + " = 0", None)


def binomial(r, t):
    n = r.randint(2, 30)
    k, p = r.randint(0, n), r.choice([0.1, 0.2, 0.25, 0.3, 0.4, 0.6, 0.75, 0.9])
    return (str(n), n), (str(k), k), (r.choice([str(p), f"{round(p * 100)}%"]), p)


def height(r, t):
    cm = r.randint(150, 200)
    return (f"{cm} cm", cm / 100) if r.random() < 0.5 else (f"{cm / 100} m", cm / 100)


def point(r, t):
    x, y = r.randint(-20, 20), r.randint(-20, 20)
    return f"({x}, {y})", [x, y]


# Value pools ----------------------------------------------------------------------------------
CITIES = ["Paris", "Rome", "Madrid", "Lisbon", "Berlin", "Vienna", "Prague", "Tokyo", "Osaka", "Seoul", "Sydney", "Toronto", "Chicago",
          "Denver", "Cairo", "Nairobi", "Lima", "Bogotá", "Mumbai", "Hanoi", "Oslo", "Dublin"]
COUNTRIES = ["France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "Vietnam", "Peru", "Egypt", "Australia", "Portugal", "Mexico",
             "India", "Chile", "Poland", "Ghana", "Iceland", "Morocco"]
STATIONS = ["Amsterdam Centraal", "Brussels Midi", "Paris Nord", "London St Pancras", "Munich Hbf", "Zurich HB", "Milan Centrale",
            "Vienna Hbf", "Lyon Part-Dieu", "Cologne Hbf"]
CURRENCY = [("dollars", "USD"), ("US dollars", "USD"), ("euros", "EUR"), ("EUR", "EUR"), ("yen", "JPY"), ("British pounds", "GBP"),
            ("Swiss francs", "CHF"), ("Canadian dollars", "CAD"), ("rupees", "INR"), ("Mexican pesos", "MXN"), ("won", "KRW"), ("AUD", "AUD")]
LENGTH = [("millimeters", "mm"), ("centimeters", "cm"), ("cm", "cm"), ("meters", "m"), ("kilometers", "km"), ("km", "km"),
          ("inches", "in"), ("feet", "ft"), ("yards", "yd"), ("miles", "mi")]
TEMPS = [("°C", "celsius"), ("degrees Celsius", "celsius"), ("Celsius", "celsius"), ("°F", "fahrenheit"), ("Fahrenheit", "fahrenheit"),
         ("kelvin", "kelvin")]
LANGS = [("Spanish", "es"), ("French", "fr"), ("German", "de"), ("Italian", "it"), ("Japanese", "ja"), ("Portuguese", "pt"),
         ("Korean", "ko"), ("Dutch", "nl"), ("Swahili", "sw")]
PEOPLE = ["Maria Lopez", "James Chen", "Aisha Khan", "Tom Becker", "Priya Nair", "Lukas Novak", "Emma Wilson", "Kenji Sato"]
TEAMS = ["Lakers", "Celtics", "Arsenal", "Real Madrid", "Bayern Munich", "Yankees", "Dodgers", "Chiefs", "Packers", "Juventus",
         "Maple Leafs"]
PLAYERS = ["LeBron James", "Stephen Curry", "Lionel Messi", "Erling Haaland", "Shohei Ohtani", "Patrick Mahomes", "Connor McDavid",
           "Kylian Mbappé", "Aitana Bonmatí", "Caitlin Clark"]
LEAGUES = ["NBA", "NFL", "MLB", "NHL", "Premier League", "La Liga", "Bundesliga", "Serie A"]
ARTISTS = ["Taylor Swift", "Adele", "Coldplay", "Daft Punk", "Beyoncé", "Ed Sheeran", "Radiohead", "Billie Eilish", "Queen", "ABBA",
           "Bad Bunny", "Norah Jones"]
SONGS = [("Bohemian Rhapsody", "Queen"), ("Hello", "Adele"), ("Yellow", "Coldplay"), ("Shape of You", "Ed Sheeran"),
         ("Dancing Queen", "ABBA"), ("Karma Police", "Radiohead"), ("Bad Guy", "Billie Eilish"), ("Get Lucky", "Daft Punk"),
         ("Halo", "Beyoncé"), ("Come Away with Me", "Norah Jones")]
MOVIES = [("Inception", 2010), ("The Matrix", 1999), ("Parasite", 2019), ("Spirited Away", 2001), ("Arrival", 2016), ("Jaws", 1975),
          ("Amélie", 2001), ("Dune", 2021), ("Heat", 1995), ("Up", 2009), ("Oppenheimer", 2023)]
FOODS = ["banana", "brown rice", "salmon", "avocado", "greek yogurt", "almonds", "oatmeal", "chicken breast", "lentils", "broccoli"]
INGREDIENTS = ["chicken", "rice", "spinach", "chickpeas", "tomatoes", "eggs", "feta", "mushrooms", "tofu", "potatoes", "lemon",
               "garlic", "pasta", "zucchini"]
FILES = ["notes.txt", "budget.xlsx", "photo1.jpg", "photo2.jpg", "slides.pptx", "main.py", "data.csv", "README.md", "invoice_0412.pdf"]
PATHS = ["/home/ana/report.pdf", "C:\\Users\\ben\\setup.exe", "./dist/app.tar.gz", "/var/log/syslog", "~/Downloads/ubuntu.iso",
         "data/train.jsonl"]
DIRS = ["/home/ana/Documents", "~/Downloads", "C:\\Projects", "./src", "/var/log", "D:\\Photos\\2024"]
SENTENCES = ["Meet me by the old oak tree after lunch", "Our quarterly numbers look better than expected",
             "Please water the tomato plants twice a week", "Pack light because the cabin is tiny",
             "The bakery on Elm Street opens at seven", "Every robot in the lab needs a new battery"]
PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
FORMULAS = ["H2O", "NaCl", "C6H12O6", "CO2", "H2SO4", "CaCO3", "NH3", "C2H5OH", "KMnO4", "Fe2O3", "CH4"]
TICKERS = [("Apple", "AAPL"), ("Microsoft", "MSFT"), ("Tesla", "TSLA"), ("Nvidia", "NVDA"), ("Amazon", "AMZN"), ("AAPL", "AAPL"),
           ("IBM", "IBM"), ("Coca-Cola", "KO"), ("Netflix", "NFLX"), ("Alphabet", "GOOGL"), ("MSFT", "MSFT")]
ZONES = [("Tokyo", "Asia/Tokyo"), ("London", "Europe/London"), ("New York", "America/New_York"), ("Sydney", "Australia/Sydney"),
         ("Paris", "Europe/Paris"), ("Los Angeles", "America/Los_Angeles"), ("Mumbai", "Asia/Kolkata"), ("São Paulo", "America/Sao_Paulo"),
         ("Dubai", "Asia/Dubai"), ("Nairobi", "Africa/Nairobi"), ("Europe/Berlin", "Europe/Berlin")]

# The catalogue --------------------------------------------------------------------------------
TOOLS: dict[str, dict] = {}
SPECS: dict[str, tuple] = {}
# Train-only functions registered by hard_data (siblings of catalogue functions); kept apart so
# that `example` (and so the eval split) draws from the catalogue above only.
EXTRA_TOOLS: dict[str, dict] = {}
EXTRA_SPECS: dict[str, tuple] = {}


def tool(name):
    return TOOLS[name] if name in TOOLS else EXTRA_TOOLS[name]


def spec(name):
    return SPECS[name] if name in SPECS else EXTRA_SPECS[name]


def T(name, desc, props, req, tpls, samp, par=(), tools=TOOLS, specs=SPECS):
    tools[name] = {"description": desc, "parameters": {"type": "object", "properties": props, **({"required": req.split()} if req else {})}}
    specs[name] = (tpls, samp, par)


LEN, RATE = "in the same length unit", "Yearly interest rate as a fraction, 5% is 0.05"
T("area_of_triangle", "Calculate the area of a triangle given its base and height.",
  {"base": N("Length of the base"), "height": N(f"Height perpendicular to the base, {LEN}")}, "base height",
  ["A triangle has base {base} and height {height}. What's its area?", "Find the area of a triangle whose base is {base} and whose height is {height}.",
   "triangle: base {base}, height {height}. area?", "I need the area of a triangular patch {base} m along the bottom and {height} m high."],
  {"base": fl(1, 50), "height": fl(1, 40)}, [("What are the areas of triangles with {LIST}?", "base {base} and height {height}")])
T("circle_area", "Calculate the area of a circle from its radius.", {"radius": N("Radius of the circle", minimum=0)}, "radius",
  ["Circle with radius {radius}: work out its area.", "How much area does a circle of radius {radius} enclose?", "circle area r={radius}",
   "A round table has a radius of {radius} feet; what's its surface area?"],
  {"radius": fl(0.5, 30)}, [("Give me the areas of circles with radii {LIST}.", "{radius}")])
T("compute_factorial", "Return n! for a non-negative integer n.", {"n": I("Non-negative integer", minimum=0, maximum=170)}, "n",
  ["What is {n} factorial?", "Compute the factorial of {n}.", "How many ways can {n} different books be ordered on a shelf?"],
  {"n": it(0, 25, words=0.3)}, [("What are the factorials of {LIST}?", "{n}")])
T("greatest_common_divisor", "Find the greatest common divisor of two positive integers.", {"a": I(minimum=1), "b": I(minimum=1)}, "a b",
  ["What's the greatest common divisor of {a} and {b}?", "gcd({a}, {b})", "Find the GCD of {a} and {b}, please.",
   "What's the largest whole number that divides both {a} and {b}?"],
  {"a": it(2, 600), "b": it(2, 600)}, [("Find the GCD of each pair: {LIST}.", "{a} and {b}")])
T("primality_test", "Check whether an integer is a prime number.", {"n": I("Integer to test", minimum=2)}, "n",
  ["Is {n} a prime number?", "check whether {n} is prime", "Tell me if {n} is prime or composite."],
  {"n": it(2, 100000)}, [("Which of these numbers are prime: {LIST}?", "{n}")])
T("quadratic_equation_solver", "Solve a*x^2 + b*x + c = 0 and return its real or complex roots.",
  {"a": N("Coefficient of x^2, non-zero"), "b": N("Coefficient of x"), "c": N("Constant term")}, "a b c",
  ["Solve {eq}.", "Find the roots of {eq}", "What are the solutions of the quadratic with a = {a}, b = {b} and c = {c}?", "roots of {eq}?"],
  {("a", "b", "c", "eq"): quadratic}, [("Solve these equations: {LIST}.", "{eq}")])
T("round_to_decimals", "Round a number to a given number of decimal places.",
  {"value": N(), "decimals": I("Decimal places to keep; default 0", minimum=0)}, "value",
  ["Round {value} to {decimals} decimal places.", ("Round {value} to the nearest whole number.", {"decimals": 0}), "round {value}",
   "What's {value} rounded to {decimals} decimals?"],
  {"value": fl(0, 1000, nd=4, whole=0), "decimals": it(1, 4)}, [("Round {LIST} to {decimals} decimal places.", "{value}")])
T("cylinder_volume", "Compute the volume of a right circular cylinder.",
  {"radius": N("Radius of the base"), "height": N(f"Height of the cylinder, {LEN}")}, "radius height",
  ["Calculate the volume of a cylinder with radius {radius} and height {height}.",
   "A cylindrical tank is {height} m tall with a radius of {radius} m. How much does it hold?", "cylinder volume r={radius} h={height}"],
  {"radius": fl(0.5, 10), "height": fl(1, 30)}, [("Compute the volume of each cylinder: {LIST}.", "radius {radius}, height {height}")])
PT = A(N(), "[x, y]", minItems=2, maxItems=2)
T("euclidean_distance", "Straight-line distance between two points in the plane.", {"point_a": PT, "point_b": PT}, "point_a point_b",
  ["How far apart are the points {point_a} and {point_b}?", "Distance between {point_a} and {point_b}",
   "Compute the Euclidean distance from {point_a} to {point_b}."],
  {"point_a": point, "point_b": point}, [("Find the distance from {point_a} to each of {LIST}.", "{point_b}")])
NUMS = A(N(), "The data values", minItems=1)
T("arithmetic_mean", "Return the arithmetic mean of a list of numbers.", {"numbers": NUMS}, "numbers",
  ["What's the average of {numbers}?", "Compute the mean of these values: {numbers}", "mean of {numbers}"], {"numbers": nums(0, 100, nd=1)})
T("stdev_of_values", "Compute the standard deviation of a list of numbers.",
  {"numbers": NUMS, "sample": B("True for the sample (n-1) standard deviation; default false, the population one")}, "numbers",
  ["standard deviation of {numbers}", ("What's the sample standard deviation of {numbers}?", {"sample": True}),
   ("Population standard deviation for {numbers}, please.", {"sample": False}),
   "How spread out are these numbers: {numbers}? Give me the standard deviation."],
  {"numbers": nums(0, 60, k=(4, 8), nd=2)})
T("binomial_probability", "Probability of exactly k successes in n independent trials.",
  {"trials": I(minimum=0), "successes": I(minimum=0), "p": N("Success probability per trial, 0 to 1", minimum=0, maximum=1)},
  "trials successes p",
  ["What's the probability that exactly {successes} of {trials} independent trials succeed when each succeeds with probability {p}?",
   ("If I toss a fair coin {trials} times, what are the odds of seeing exactly {successes} heads?", {"p": 0.5}),
   "binomial probability: n={trials}, k={successes}, p={p}"],
  {("trials", "successes", "p"): binomial})
T("kinetic_energy", "Kinetic energy of a moving body in joules.",
  {"mass": N("Mass in kilograms"), "velocity": N("Speed in meters per second")}, "mass velocity",
  ["What's the kinetic energy of a {mass} kg object moving at {velocity} m/s?", "Kinetic energy for mass {mass} kg and velocity {velocity} m/s",
   "A {mass}-kilogram cart rolls at {velocity} meters per second. How much kinetic energy does it have?"],
  {"mass": fl(0.1, 2000), "velocity": fl(0.5, 90)}, [("Compute the kinetic energy for each: {LIST}.", "{mass} kg at {velocity} m/s")])
T("velocity_after_acceleration", "Final velocity under constant acceleration: v = u + a*t.",
  {"initial_velocity": N("m/s"), "acceleration": N("m/s^2"), "time": N("seconds", minimum=0)}, "initial_velocity acceleration time",
  ["An object starts at {initial_velocity} m/s and accelerates at {acceleration} m/s² for {time} seconds. What's its final speed?",
   "final velocity: u={initial_velocity} m/s, a={acceleration} m/s^2, t={time} s",
   ("A car starts from rest and accelerates at {acceleration} m/s² for {time} s. How fast is it going?", {"initial_velocity": 0})],
  {"initial_velocity": fl(0, 40), "acceleration": fl(0.5, 12), "time": fl(1, 60)})
T("current_from_voltage", "Current through a resistor by Ohm's law (I = V / R), in amperes.",
  {"voltage": N("Volts"), "resistance": N("Ohms", exclusiveMinimum=0)}, "voltage resistance",
  ["What current flows through a {resistance} ohm resistor at {voltage} volts?", "I = V/R with V = {voltage} V and R = {resistance} Ω",
   "Current for {voltage}V across {resistance} ohms?"],
  {"voltage": ch(1.5, 3.3, 5, 9, 12, 24, 120, 230), "resistance": fl(1, 2000, whole=0.8)},
  [("Find the current through a {resistance} ohm resistor at {LIST} volts.", "{voltage}")])
T("fall_time", "Time for an object dropped from rest to fall a height, ignoring air resistance.",
  {"height": N("Drop height in meters", minimum=0), "gravity": N("Gravitational acceleration in m/s^2; default 9.81 (Earth)")}, "height",
  ["How long does it take something to fall {height} meters?", "Time to drop from {height} m",
   ("How long would a fall of {height} m take on the Moon?", {"gravity": 1.62}), ("fall time from {height} m on Mars", {"gravity": 3.71}),
   "How long to fall {height} m if gravity is {gravity} m/s²?"],
  {"height": fl(1, 500), "gravity": ch(9.8, 3.7, 24.8, 1.6, 8.9)}, [("How long does a fall take from {LIST} meters?", "{height}")])
T("formula_molar_mass", "Molar mass of a chemical compound in g/mol.", {"formula": S("Chemical formula, e.g. H2O")}, "formula",
  ["What's the molar mass of {formula}?", "molar mass {formula}", "How many grams per mole is {formula}?"],
  {"formula": ch(*FORMULAS, ("water (H2O)", "H2O"), ("table salt, NaCl", "NaCl"))}, [("Give me the molar masses of {LIST}.", "{formula}")])
T("ph_from_hydrogen_ions", "pH of a solution from its hydrogen ion concentration.",
  {"concentration": N("[H+] in mol/L", exclusiveMinimum=0)}, "concentration",
  ["What's the pH of a solution with [H+] = {concentration} M?", "pH for a hydrogen ion concentration of {concentration} mol/L",
   "If the H+ concentration is {concentration} molar, what is the pH?"],
  {"concentration": ch(0.001, 0.01, 0.00025, ("1e-7", 1e-07), ("3.2e-5", 3.2e-05), ("1 x 10^-4", 0.0001), ("10^-9", 1e-09))},
  [("Work out the pH for these concentrations: {LIST} mol/L.", "{concentration}")])
T("periodic_table_lookup", "Look up a chemical element in the periodic table.",
  {"element": S("Element name or symbol"),
   "property": E(["atomic_number", "atomic_mass", "electron_configuration", "melting_point", "all"], "What to return; default all")}, "element",
  ["Tell me about {element}.", ("What's the atomic number of {element}?", {"property": "atomic_number"}),
   ("Atomic mass of {element}?", {"property": "atomic_mass"}), ("What is the melting point of {element}?", {"property": "melting_point"}),
   ("electron configuration of {element}", {"property": "electron_configuration"})],
  {"element": ch("iron", "Fe", "oxygen", "gold", "Na", "carbon", "neon", "uranium", "copper", "He")},
  [("What are the atomic numbers of {LIST}?", "{element}", {"property": "atomic_number"})])
T("future_value_compound", "Future value of an investment with compound interest.",
  {"principal": N("Initial amount"), "annual_rate": N(RATE), "years": I(minimum=1),
   "compounds_per_year": I("How often interest is compounded per year; default 12", minimum=1)}, "principal annual_rate years",
  ["If I invest {principal} at {annual_rate} a year for {years} years, what will it be worth?",
   "What's {principal} worth after {years} years at {annual_rate} compounded {compounds_per_year}?",
   "future value: {principal} principal, {annual_rate} annual interest, {years} years"],
  {"principal": amt(1000, 2500, 10000, 20000, 75000, 500, dollars=True), "annual_rate": pct(2, 3.5, 4, 5, 6.25, 7, 9),
   "years": it(1, 40, words=0.3), "compounds_per_year": ch(("quarterly", 4), ("monthly", 12), ("annually", 1), ("daily", 365))})
T("monthly_loan_payment", "Monthly payment on a fixed-rate amortising loan.",
  {"principal": N("Amount borrowed"), "annual_rate": N(RATE), "term_years": I("Length of the loan in years", minimum=1)},
  "principal annual_rate term_years",
  ["If I borrow {principal} at {annual_rate} over {term_years} years, how much do I pay each month?",
   "Mortgage of {principal}, {annual_rate} interest, {term_years}-year term. Monthly payment?",
   "Monthly repayment for borrowing {principal} for {term_years} years at {annual_rate}"],
  {"principal": amt(15000, 250000, 320000, 480000, 30000, 8500, dollars=True), "annual_rate": pct(3.9, 4.5, 5.25, 6, 6.75, 7.1),
   "term_years": ch(5, 10, 15, 20, 25, 30)})
T("stock_price_lookup", "Get the latest trading price of a stock.", {"symbol": S("Ticker symbol, e.g. AAPL")}, "symbol",
  ["What's {symbol} trading at?", "Get me the current share price of {symbol}.", "How much is one {symbol} share right now?"],
  {"symbol": ch(*TICKERS)}, [("How are {LIST} shares doing today?", "{symbol}")])
T("currency_exchange", "Convert an amount between currencies at today's rate.",
  {"amount": N(minimum=0), "source_currency": S("ISO 4217 code"), "target_currency": S("ISO 4217 code")},
  "amount source_currency target_currency",
  ["Convert {amount} {source_currency} to {target_currency}.", "How many {target_currency} do I get for {amount} {source_currency}?",
   "{amount} {source_currency} in {target_currency}?"],
  {"amount": amt(20, 50, 100, 250, 1200, 20000, 3.75, 99.99), "source_currency": ch(*CURRENCY), "target_currency": ch(*CURRENCY)},
  [("Convert {LIST} {source_currency} to {target_currency}.", "{amount}")])
T("split_bill", "Work out the tip and each person's share of a bill.",
  {"bill_amount": N("Total before tip"), "tip_rate": N("Tip as a fraction, 18% is 0.18"), "people": I("How many share; default 1", minimum=1)},
  "bill_amount tip_rate",
  ["What's the tip on {bill_amount} at {tip_rate}?", "The bill is {bill_amount}; we're {people} people and want to leave {tip_rate}. How much each?",
   "Split {bill_amount} {people} ways with a {tip_rate} tip."],
  {"bill_amount": amt(42.5, 86, 120, 64.8, 230, 19.99, dollars=True), "tip_rate": pct(10, 12.5, 15, 18, 20, 22), "people": it(2, 8, words=0.4)})
T("price_with_tax", "Total price after adding sales tax.",
  {"amount": N("Price before tax"), "tax_rate": N("Sales tax as a fraction, 8% is 0.08")}, "amount tax_rate",
  ["How much is {amount} with {tax_rate} sales tax?", "Add {tax_rate} tax to {amount}.", "total for a {amount} item with tax at {tax_rate}"],
  {"amount": amt(9.99, 24, 150, 1299, 64.5, 3500, dollars=True), "tax_rate": pct(5, 6.25, 7, 8, 8.875, 10)},
  [("What do {LIST} come to with {tax_rate} tax?", "{amount}")])


def _units(name, desc, kind, table, lo, hi, k1, k2, tpls):
    codes = list(dict.fromkeys(v for _, v in table))
    T(name, desc, {"value": N(), k1: E(codes, f"Unit of the value ({kind})"), k2: E(codes, "Unit to convert to")}, f"value {k1} {k2}",
      tpls, {"value": fl(lo, hi), k1: ch(*table), k2: ch(*table)}, [(f"Convert {{LIST}} {{{k1}}} to {{{k2}}}.", "{value}")])


_units("length_converter", "Convert a length between units.", "length", LENGTH, 0.5, 5000, "from_unit", "to_unit",
       ["Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?", "{value} {from_unit} in {to_unit}"])
_units("temperature_converter", "Convert a temperature between scales.", "temperature scale", TEMPS, -40, 250, "from_scale", "to_scale",
       ["Convert {value} {from_scale} to {to_scale}.", "What's {value} {from_scale} in {to_scale}?", "{value} {from_scale} -> {to_scale}"])
TEXT = S("The input text")
T("count_words_in", "Count the words in a piece of text.", {"text": TEXT}, "text",
  ["How many words are in \"{text}\"?", "Count the words in this sentence: {text}", "word count for '{text}'"], {"text": ch(*SENTENCES)})
T("reverse_string", "Return the characters of a string in reverse order.", {"text": TEXT}, "text",
  ["Reverse the string '{text}'.", "What's \"{text}\" spelled backwards?", "reverse: {text}"],
  {"text": ch("hello world", "stressed", "OpenAI", "Toolcall 2026", "abc123", "desserts", "level up", "drawer")},
  [("Reverse each of these: {LIST}.", "'{text}'")])
T("is_palindrome", "Check whether a text reads the same forwards and backwards, ignoring spaces and punctuation.",
  {"text": TEXT, "ignore_case": B("Treat upper and lower case as equal; default true")}, "text",
  ["Is '{text}' a palindrome?", ("Check if \"{text}\" reads the same backwards, case-sensitive.", {"ignore_case": False}),
   "palindrome check: {text}"],
  {"text": ch("racecar", "Level", "A man a plan a canal Panama", "hello", "noon", "Was it a car or a cat I saw", "kayak", "python")},
  [("Which of these are palindromes: {LIST}?", "'{text}'")])
T("text_translator", "Translate text into another language.",
  {"text": TEXT, "target_language": S("ISO 639-1 code, e.g. 'es'"), "source_language": S("ISO 639-1 code; detected when omitted")},
  "text target_language",
  ["Translate '{text}' into {target_language}.", "How do you say \"{text}\" in {target_language}?",
   ("Translate this from English to {target_language}: {text}", {"source_language": "en"})],
  {"text": ch("good morning", "where is the train station?", "thank you very much", "I would like a coffee", "see you tomorrow"),
   "target_language": ch(*LANGS)}, [("How do you say '{text}' in {LIST}?", "{target_language}")])
T("thesaurus_lookup", "Find synonyms of an English word.", {"word": S(), "max_results": I("How many synonyms; default 10", minimum=1)}, "word",
  ["Give me synonyms for '{word}'.", "What's another word for {word}?", "List {max_results} synonyms of {word}."],
  {"word": ch("happy", "big", "fast", "smart", "angry", "beautiful", "difficult", "quiet"), "max_results": it(3, 10, words=0.4)},
  [("Find synonyms for {LIST}.", "{word}")])
T("days_between_dates", "Number of days from one date to another.",
  {"start_date": S("First date; default today", **DATE), "end_date": S("Second date", **DATE)}, "end_date",
  ["How many days are there between {start_date} and {end_date}?", "Count the days from {start_date} to {end_date}.",
   "How many days until {end_date}?"],
  {("start_date", "end_date"): two_days})
T("add_days", "Add a number of days to a date.", {"date": S(**DATE), "days": I("Days to add")}, "date days",
  ["What date is {days} days after {date}?", "Add {days} days to {date}.", "Which date falls {days} days from {date}?"],
  {"date": day(2024, 2028, today=0.3), "days": it(2, 400)}, [("What is the date {LIST} days after {date}?", "{days}")])
T("day_of_week", "Which weekday a date falls on.", {"date": S(**DATE)}, "date",
  ["What day of the week was {date}?", "Which weekday is {date}?", "day of week for {date}"],
  {"date": day(1900, 2030)}, [("What days of the week were {LIST}?", "{date}")])
T("local_time", "Current local time in a time zone.", {"timezone": S("IANA time zone name, e.g. Europe/Paris")}, "timezone",
  ["What time is it in {timezone}?", "current local time in {timezone}", "Is it night in {timezone} right now? What's the time there?"],
  {"timezone": ch(*ZONES)}, [("What time is it right now in {LIST}?", "{timezone}")])
T("age_calculator", "Age in whole years of someone born on a date.",
  {"birth_date": S(**DATE), "on_date": S("Date to measure the age on; default today", **DATE)}, "birth_date",
  ["How old is someone born {birth_date}?", "I was born {birth_date}. How old am I?", "If I was born {birth_date}, how old will I be on {on_date}?"],
  {"birth_date": day(1940, 2015), "on_date": day(2027, 2040)})
T("city_population", "Population of a city.", {"city": S(), "year": I("Census year; default latest")}, "city",
  ["What's the population of {city}?", "How many people live in {city}?", "population of {city} in {year}"],
  {"city": ch(*CITIES), "year": it(1950, 2025)}, [("Get the population of {LIST}.", "{city}")])
T("capital_city", "Capital city of a country.", {"country": S()}, "country",
  ["What's the capital of {country}?", "capital city of {country}", "Which city is the capital of {country}?"],
  {"country": ch(*COUNTRIES)}, [("Name the capitals of {LIST}.", "{country}")])
T("travel_distance", "Distance between two cities.",
  {"origin": S(), "destination": S(), "unit": E(["km", "mi"], "Unit of the result; default km")}, "origin destination",
  ["How far is {origin} from {destination}?", "Distance from {origin} to {destination} in {unit}", "How many {unit} between {origin} and {destination}?"],
  {"origin": ch(*CITIES), "destination": ch(*CITIES), "unit": ch(("kilometers", "km"), ("miles", "mi"), ("km", "km"))},
  [("How far is {origin} from {LIST}?", "{destination}")])
T("sunrise_sunset", "Sunrise and sunset times for a city.", {"city": S(), "date": S("Day to look up; default today", **DATE)}, "city",
  ["When is sunrise in {city} {date}?", "sunset time in {city}", "What time does the sun rise and set in {city} {date}?"],
  {"city": ch(*CITIES), "date": when}, [("Sunrise and sunset times for {LIST} {date}", "{city}")])
T("search_flights", "Search flights between two cities.",
  {"origin": S("Departure city"), "destination": S("Arrival city"), "departure_date": S(**DATE), "passengers": I("default 1", minimum=1),
   "cabin": E(["economy", "premium_economy", "business", "first"], "default economy")}, "origin destination departure_date",
  ["Find flights from {origin} to {destination} {departure_date}.", "I need {passengers} tickets from {origin} to {destination} {departure_date}.",
   "Search {cabin} flights {origin} to {destination} leaving {departure_date}",
   "Any flights from {origin} to {destination} {departure_date} for {passengers} people in {cabin}?"],
  {"origin": ch(*CITIES), "destination": ch(*CITIES), "departure_date": when, "passengers": it(2, 6, words=0.4),
   "cabin": ch("business", ("first class", "first"), "economy", ("premium economy", "premium_economy"))})
T("reserve_hotel", "Book a hotel in a city for a stay.",
  {"city": S(), "check_in": S(**DATE), "check_out": S(**DATE), "guests": I("default 1", minimum=1), "rooms": I("default 1", minimum=1)},
  "city check_in check_out",
  ["Book a hotel in {city} from {check_in} to {check_out}.", "I need a room in {city}, checking in {check_in} and out {check_out}, for {guests} guests.",
   "Reserve {rooms} rooms in {city} from {check_in} until {check_out}"],
  {"city": ch(*CITIES), ("check_in", "check_out"): span(), "guests": it(2, 5, words=0.4), "rooms": it(2, 4, words=0.4)})
T("train_timetable", "Train departures between two stations.",
  {"from_station": S(), "to_station": S(), "date": S("Travel day; default today", **DATE)}, "from_station to_station",
  ["Trains from {from_station} to {to_station} {date}?", "When's the next train from {from_station} to {to_station}?",
   "Show the train times {from_station} -> {to_station} {date}"],
  {"from_station": ch(*STATIONS), "to_station": ch(*STATIONS), "date": when})
T("visa_requirements", "Entry visa rules for a passport holder visiting a country.",
  {"passport_country": S(), "destination_country": S()}, "passport_country destination_country",
  ["I'm a citizen of {passport_country}. Do I need a visa for {destination_country}?",
   "Visa rules for {passport_country} passport holders travelling to {destination_country}",
   "Can people from {passport_country} enter {destination_country} without a visa?"],
  {"passport_country": ch(*COUNTRIES), "destination_country": ch(*COUNTRIES)},
  [("As a citizen of {passport_country}, do I need visas for {LIST}?", "{destination_country}")])
T("nearby_restaurants", "Find restaurants near a place.",
  {"location": S("City or neighbourhood"), "cuisine": S(), "max_price_level": I("1 ($) to 4 ($$$$)", minimum=1, maximum=4)}, "location",
  ["Find {cuisine} restaurants in {location}.", "Any good places to eat in {location}?",
   "{cuisine} food in {location}, nothing pricier than {max_price_level}"],
  {"location": ch(*CITIES, "Brooklyn", "Shoreditch", "Kreuzberg"), "cuisine": ch("Thai", "Italian", "Ethiopian", "vegan", "sushi", "Mexican"),
   "max_price_level": ch(("$", 1), ("$$", 2), ("$$$", 3))}, [("Find {cuisine} restaurants in {LIST}.", "{location}")])
T("book_table", "Reserve a restaurant table.",
  {"restaurant": S(), "date": S(**DATE), "time": S("HH:MM, 24 h"), "party_size": I(minimum=1)}, "restaurant date time party_size",
  ["Book a table for {party_size} at {restaurant} {date} at {time}.", "Reserve {restaurant} for {party_size} people {date}, {time}.",
   "Could you find us a table at {restaurant} {date} at {time}? We're a party of {party_size}."],
  {"restaurant": ch("Luigi's", "The Green Fork", "Sakura House", "Casa Lola", "Blue Door Bistro", "Spice Route"),
   "date": when, "time": clock, "party_size": it(2, 10, words=0.4)})
T("recipes_by_ingredients", "Find recipes that use given ingredients.",
  {"ingredients": A(S(), minItems=1), "max_minutes": I("Longest total cooking time", minimum=1),
   "diet": E(["vegetarian", "vegan", "gluten_free", "keto"])}, "ingredients",
  ["What can I cook with {ingredients}?", "Find a {diet} recipe using {ingredients}.", "Recipe with {ingredients} that takes under {max_minutes} minutes"],
  {"ingredients": strs(INGREDIENTS), "max_minutes": ch(15, 20, 30, 45, 60), "diet": ch("vegan", ("gluten-free", "gluten_free"), "vegetarian", "keto")})
T("nutrition_info", "Nutrition facts for a food.", {"food": S(), "grams": N("Portion in grams; default 100", minimum=0)}, "food",
  ["How many calories are in {food}?", "Nutrition facts for {grams} g of {food}", "What's the protein content of {grams} grams of {food}?"],
  {"food": ch(*FOODS), "grams": ch(50, 100, 150, 200, 250, 30)}, [("Calories in {LIST}?", "{food}")])
T("league_standings", "Current or past standings table of a sports league.",
  {"league": E(LEAGUES), "season": S("e.g. 2024-25; default current")}, "league",
  ["Show me the {league} table.", "What were the {league} standings in the {season} season?", "{league} standings"],
  {"league": ch(*LEAGUES), "season": ch("2021-22", "2022-23", "2023-24", "2019-20")}, [("Show the current tables for {LIST}.", "{league}")])
T("player_season_stats", "Season statistics for an athlete.", {"player": S(), "season": I("Year the season started; default current")}, "player",
  ["What are {player}'s stats this season?", "Show {player}'s numbers for the {season} season.", "How did {player} do in {season}?"],
  {"player": ch(*PLAYERS), "season": it(2015, 2025)}, [("Compare the current stats of {LIST}.", "{player}")])
T("team_fixtures", "Upcoming games of a team.", {"team": S(), "count": I("How many games; default 5", minimum=1)}, "team",
  ["When do the {team} play next?", "Show the next {count} games for {team}.", "{team} upcoming fixtures"],
  {"team": ch(*TEAMS), "count": it(2, 10, words=0.4)}, [("When are the next games for {LIST}?", "{team}")])
T("song_lyrics", "Lyrics of a song.", {"title": S(), "artist": S()}, "title",
  ["Get me the lyrics to {title}.", "Show the lyrics of \"{title}\" by {artist}.", "what are the words to {title} by {artist}"],
  {("title", "artist"): lambda r, t: tuple((x, x) for x in r.choice(SONGS))})
T("artist_top_tracks", "Most popular tracks of an artist.", {"artist": S(), "limit": I("How many tracks; default 10", minimum=1)}, "artist",
  ["What are {artist}'s most popular songs?", "Top {limit} tracks by {artist}", "List the {limit} biggest hits of {artist}."],
  {"artist": ch(*ARTISTS), "limit": it(3, 10, words=0.4)}, [("Show the top tracks for {LIST}.", "{artist}")])
T("movie_details", "Plot, cast and ratings of a film.", {"title": S(), "year": I("Release year, to tell remakes apart")}, "title",
  ["Tell me about the movie {title}.", "Who directed {title} ({year})?", "info on the film {title} from {year}"],
  {("title", "year"): lambda r, t: (lambda m: ((m[0], m[0]), (str(m[1]), m[1])))(r.choice(MOVIES))},
  [("Give me the ratings of {LIST}.", "{title}")])
T("shop_product_search", "Search the store catalogue.",
  {"query": S("What to look for"), "max_price": N("Highest price in USD"),
   "sort_by": E(["relevance", "price_low", "price_high", "rating"], "default relevance")}, "query",
  ["Search for {query} under {max_price}.", "Find {query} sorted by {sort_by}.", "I'm looking for {query}."],
  {"query": ch("wireless earbuds", "running shoes", "a standing desk", "a cast iron pan", "USB-C cables", "a yoga mat"),
   "max_price": amt(25, 50, 100, 150, 300, 1000, dollars=True),
   "sort_by": ch(("lowest price", "price_low"), ("highest price", "price_high"), ("rating", "rating"), ("best rating", "rating"))})
T("order_status", "Status of a customer order.", {"order_id": S("Order number without the '#'")}, "order_id",
  ["Where is my order {order_id}?", "Check the status of order {order_id}.", "order {order_id} status?"],
  {"order_id": code(("#####", "######"), ("#{}", "{}", "number {}"))}, [("Check orders {LIST}.", "{order_id}")])
T("track_parcel", "Track a parcel by its tracking number.", {"tracking_number": S(), "carrier": E(["ups", "fedex", "dhl", "usps"])},
  "tracking_number",
  ["Track package {tracking_number}.", "Where's my {carrier} parcel {tracking_number}?", "tracking number {tracking_number} via {carrier}"],
  {"tracking_number": code(("1ZAAA###########", "############", "JD##########", "9400############")),
   "carrier": ch(("UPS", "ups"), ("FedEx", "fedex"), ("DHL", "dhl"), ("USPS", "usps"))}, [("Track these parcels: {LIST}.", "{tracking_number}")])
T("request_time_off", "Submit a leave request for the current employee.",
  {"start_date": S(**DATE), "end_date": S(**DATE), "leave_type": E(["vacation", "sick", "parental", "unpaid"]), "note": S("Message to the manager")},
  "start_date end_date leave_type",
  ["Request {leave_type} leave from {start_date} to {end_date}.", "I'd like to take time off {start_date} through {end_date} ({leave_type}).",
   "Book time off {start_date} to {end_date} as {leave_type} leave, note: {note}"],
  {("start_date", "end_date"): span(1, 10), "leave_type": ch("vacation", "sick", ("holiday", "vacation"), "unpaid", "parental"),
   "note": ch("family wedding", "covering plan is in the wiki", "back on Monday", "doctor's orders")})
T("open_ticket", "Open an issue in the team tracker.",
  {"title": S(), "priority": E(["low", "medium", "high", "urgent"]), "component": S("Area of the product")}, "title priority",
  ["Open a {priority} priority ticket: {title}.", "File a bug titled \"{title}\" with priority {priority} under {component}.",
   "New ticket, {priority}: {title}"],
  {"title": ch("Login page times out", "Export to CSV drops accents", "Dark mode toggle resets", "Invoice totals off by a cent"),
   "priority": ch("low", "medium", "high", "urgent"), "component": ch("billing", "frontend", "auth", "reports")})
T("assign_ticket", "Assign a tracker issue to a person.", {"ticket_id": S("e.g. OPS-142"), "assignee": S()}, "ticket_id assignee",
  ["Assign {ticket_id} to {assignee}.", "Give ticket {ticket_id} to {assignee}, please.", "{assignee} should take {ticket_id}"],
  {"ticket_id": code(("OPS-###", "WEB-####", "HR-##", "BUG-###")), "assignee": ch(*PEOPLE)}, [("Assign {LIST} to {assignee}.", "{ticket_id}")])
T("create_zip_archive", "Pack files into a zip archive.", {"files": A(S(), minItems=1), "archive_name": S()}, "files archive_name",
  ["Zip {files} into {archive_name}.", "Create an archive called {archive_name} with {files}.", "compress {files} as {archive_name}"],
  {"files": strs(FILES, (1, 4)), "archive_name": ch("backup.zip", "photos.zip", "report_2026.zip", "project.zip")})
T("file_checksum", "Compute a file's cryptographic hash.", {"path": S(), "algorithm": E(["md5", "sha1", "sha256"], "default sha256")}, "path",
  ["Compute the checksum of {path}.", "What's the {algorithm} hash of {path}?", "{algorithm} of {path}"],
  {"path": ch(*PATHS), "algorithm": ch(("MD5", "md5"), ("SHA-1", "sha1"), ("SHA-256", "sha256"), "sha256")}, [("Get checksums for {LIST}.", "{path}")])
T("search_files", "Find files whose names match a glob pattern.",
  {"directory": S(), "pattern": S("Glob pattern such as *.txt"), "recursive": B("Search subfolders too; default false")}, "directory pattern",
  ["Find {pattern} files in {directory}.", ("Search {directory} and all its subfolders for {pattern}.", {"recursive": True}),
   "list {pattern} in {directory}"],
  {"directory": ch(*DIRS), "pattern": ch("*.pdf", "*.csv", "*.jpg", "report*", "*.log")}, [("Look in {directory} for {LIST}.", "{pattern}")])
T("body_mass_index", "Body mass index from weight and height.", {"weight_kg": N("Weight in kilograms"), "height_m": N("Height in meters")},
  "weight_kg height_m",
  ["What's my BMI if I weigh {weight_kg} kg and I'm {height_m} tall?", "BMI for {weight_kg} kilograms and {height_m}",
   "I'm {height_m} and {weight_kg} kg. Calculate my body mass index."],
  {"weight_kg": fl(45, 130), "height_m": height})
T("calories_burned", "Estimate calories burned by an activity.",
  {"activity": E(["running", "cycling", "swimming", "walking", "rowing"]), "minutes": I(minimum=1), "weight_kg": N("Body weight in kilograms")},
  "activity minutes",
  ["How many calories do I burn {activity} for {minutes} minutes?", "Calories burned: {minutes} min of {activity} at {weight_kg} kg body weight",
   "I weigh {weight_kg} kg and did {minutes} minutes of {activity}. How many calories is that?"],
  {"activity": ch("running", "cycling", "swimming", "walking", "rowing"), "minutes": ch(15, 20, 30, 45, 60, 90), "weight_kg": fl(50, 110)})
T("planet_facts", "Facts about a planet of the solar system.",
  {"planet": E(PLANETS), "fact": E(["mass", "radius", "moons", "distance_from_sun", "day_length", "all"], "default all")}, "planet",
  ["Tell me about {planet}.", ("How many moons does {planet} have?", {"fact": "moons"}),
   ("How far is {planet} from the Sun?", {"fact": "distance_from_sun"}), ("How long is a day on {planet}?", {"fact": "day_length"})],
  {"planet": ch(*PLANETS)}, [("How many moons do {LIST} have?", "{planet}", {"fact": "moons"})])
T("radioactive_decay", "Amount of a radioactive substance left after some time.",
  {"initial_amount": N("Starting quantity, any unit"), "half_life": N("Half-life", exclusiveMinimum=0),
   "elapsed": N("Time passed, in the half-life's unit", minimum=0)}, "initial_amount half_life elapsed",
  ["If I start with {initial_amount} g of an isotope with a half-life of {half_life} years, how much is left after {elapsed} years?",
   "decay: N0={initial_amount}, half-life {half_life}, t={elapsed}",
   "How much of {initial_amount} mg remains after {elapsed} hours if the half-life is {half_life} hours?"],
  {"initial_amount": fl(1, 1000), "half_life": fl(0.5, 5730), "elapsed": fl(1, 10000)})
T("make_random_password", "Generate a random password.",
  {"length": I(minimum=4, maximum=128), "include_symbols": B("Use punctuation characters; default true")}, "length",
  ["Generate a {length}-character password.", ("Make me a password of length {length} without symbols.", {"include_symbols": False}),
   ("new random password, {length} chars, with special characters", {"include_symbols": True})],
  {"length": ch(8, 10, 12, 16, 20, 24, 32, ("twelve", 12), ("sixteen", 16))})
T("roll_dice", "Roll dice and return the faces.",
  {"count": I("Number of dice; default 1", minimum=1), "sides": I("Faces per die; default 6", minimum=2)}, "",
  ["Roll {count} dice.", "Roll a d{sides}.", "Roll {count} {sides}-sided dice.", ("Roll a die.", {})],
  {"count": it(2, 6, words=0.5), "sides": ch(4, 6, 8, 10, 12, 20)})


# Rendering ------------------------------------------------------------------------------------
def _fields(text):
    return [f for _, f, _, _ in string.Formatter().parse(text) if f and f != "LIST"]


def _tpl(t):
    return (t, {}) if isinstance(t, str) else t


def _draw(r, today, samp):
    """Sample every key: spoken forms, values, and the keys each key was sampled with."""
    spoken, vals, group = {}, {}, {}
    for key, f in samp.items():
        got = f(r, today)
        keys, pairs = (key, got) if isinstance(key, tuple) else ((key,), (got,))
        for k, (s, v) in zip(keys, pairs):
            spoken[k], vals[k], group[k] = s, v, keys
    return spoken, vals, group


def _used(name, fields, group):
    """Parameters a text mentions: its parameter fields, and those a non-parameter field stands for."""
    props = tool(name)["parameters"]["properties"]
    return set().union(*[{f} if f in props else {g for g in group.get(f, ()) if g in props} for f in fields])


def _args(name, used, vals, consts):
    """Arguments in schema order, or None when two strings coincide (origin == destination)."""
    args = {p: consts.get(p, vals.get(p)) for p in tool(name)["parameters"]["properties"] if p in used or p in consts}
    strings = [v for v in args.values() if isinstance(v, str)]
    return args if len(strings) == len(set(strings)) else None


def _single(r, today, name, tpl):
    text, consts = _tpl(tpl)
    for _ in range(100):
        spoken, vals, group = _draw(r, today, spec(name)[1])
        args = _args(name, _used(name, _fields(text), group), vals, consts)
        if args is not None:
            return text.format(**spoken), {"name": name, "arguments": args}, text
    raise RuntimeError(f"{name}: could not sample distinct values")


def _style(r, q, text):
    """Casual variants: a lower-case first letter, no final punctuation (only where no value is touched)."""
    if text[0] != "{" and r.random() < 0.12:
        q = q[0].lower() + q[1:]
    return q[:-1] if text[-1] in ".?" and r.random() < 0.1 else q


def _parallel(r, today, name, k):
    tpls, samp, par = spec(name)
    if par and r.random() < 0.75:
        head, frag, *rest = r.choice(par)
        consts = rest[0] if rest else {}
        while True:  # the fixed part must be valid on its own (from_unit != to_unit)
            base_spoken, base, group = _draw(r, today, samp)
            fixed = _used(name, _fields(head), group)
            if _args(name, fixed, base, consts) is not None:
                break
        frags, calls = [], []
        for _ in range(30 * k):
            spoken, vals, group = _draw(r, today, samp)
            varying = _used(name, _fields(frag), group)
            args = _args(name, fixed | varying, {**base, **{p: vals[p] for p in varying}}, consts)
            if args is not None and all(c["arguments"] != args for c in calls):
                frags.append(frag.format(**spoken))
                calls.append({"name": name, "arguments": args})
            if len(calls) == k:
                break
        joined = "; ".join(frags) if len(_fields(frag)) > 1 else _and(r, frags)
        return _style(r, head.format(LIST=joined, **base_spoken), head), calls
    parts, calls = [], []
    glue = r.choice([" ", " Also: ", " And ", "\n"])
    for _ in range(30 * k):
        q, call, text = _single(r, today, name, r.choice(tpls))
        if call not in calls:
            q = q if q[-1] in ".?!" else q + "."
            parts.append(q[0].lower() + q[1:] if parts and glue == " And " and text[0] != "{" else q)
            calls.append(call)
        if len(calls) == k:
            break
    return glue.join(parts), calls


PARALLEL_K = [2, 2, 3, 3, 4]  # v3 (and the eval split)
PARALLEL_K_V4 = [2, 2, 3, 3, 4, 4, 5]  # the training split since v4: 2-5 values


def example(r: random.Random, today: dt.date, ks=PARALLEL_K) -> tuple[str, list[dict]]:
    """(query, calls): one call, or 2-4 (ks) calls of the same tool for a parallel request."""
    name = r.choice(list(TOOLS))
    if r.random() < 0.25:
        return _parallel(r, today, name, r.choice(ks))
    q, call, text = _single(r, today, name, r.choice(SPECS[name][0]))
    return _style(r, q, text), [call]


# Self-test ------------------------------------------------------------------------------------
KEYWORDS = {"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const", "minimum",
            "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "format", "anyOf",
            "description", "title", "default", "examples"}  # the engine's subset (engine/src/tools.rs)


def _check_schema(s, where):
    assert set(s) <= KEYWORDS, (where, set(s) - KEYWORDS)
    for k, sub in s.get("properties", {}).items():
        _check_schema(sub, f"{where}.{k}")
    if isinstance(s.get("items"), dict):
        _check_schema(s["items"], f"{where}[]")


def self_test(n: int = 2000, seed: int = 7, show: int = 15) -> None:
    import json
    import re

    import jsonschema

    for name, spec in TOOLS.items():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}", name), name
        _check_schema(spec["parameters"], name)
        jsonschema.Draft202012Validator.check_schema(spec["parameters"])
        tpls, samp, par = SPECS[name]
        assert 2 <= len(tpls) <= 5, name
        group = _draw(random.Random(0), dt.date(2026, 1, 1), samp)[2]
        required = set(spec["parameters"].get("required", []))
        for text, consts in [_tpl(t) for t in tpls] + [(h + " " + f, (c or [{}])[0]) for h, f, *c in par]:
            assert set(_fields(text)) <= set(group), (name, text)
            assert required <= _used(name, _fields(text), group) | set(consts), (name, text)
    r, today, parallel, seen = random.Random(seed), dt.date(2026, 3, 11), 0, set()
    for i in range(n):
        q, calls = example(r, today)
        assert q and calls and len({c["name"] for c in calls}) == 1, q
        parallel += len(calls) > 1
        for c in calls:
            params = TOOLS[c["name"]]["parameters"]
            jsonschema.validate(c["arguments"], params, format_checker=jsonschema.FormatChecker())
            assert set(params.get("required", [])) <= set(c["arguments"]), (q, c)
            seen.add(c["name"])
        if i < show:
            print(q.replace("\n", " / "), "->", json.dumps(calls, ensure_ascii=False))
    print(f"tools: {len(TOOLS)} ({len(seen)} sampled); parallel share: {parallel / n:.3f}; {n} examples OK")


if __name__ == "__main__":
    self_test()
