"""Train-only API examples for the categories the v3 adapter fails (docs/MODEL.md), v5:

* near-topic negatives (`near_negative`): a request on the topic of an offered function that it
  cannot serve (another operation or quantity, or a required value left out), answered [];
* sibling picks (`sibling_pick`): the right function offered beside siblings that share its
  name prefix or topic but do something else (SIBLINGS), so the pick comes from the description;
* parallel requests (`parallel_n`): one function asked for 2-5 values, one call per value in
  the order asked;
* several functions in one request (`multi_function`): two or three different functions (each
  perhaps asked several times), calls in the order asked.

The sibling functions are registered in api_data.EXTRA_TOOLS, never in api_data.TOOLS, so the
main generator (and the eval split) is unchanged. Written from scratch; BFCL is evaluation data
only. `python -m toolcall_model.hard_data` prints examples and self-checks."""

from __future__ import annotations

import datetime as dt
import random

from . import api_data as ad
from .api_data import A, B, DATE, E, I, N, S, ch, day, fl, it, nums, pct, amt, two_days, when

SIBLINGS: dict[str, list[str]] = {}


def X(of, name, desc, props, req, tpls, samp, par=()):
    """A sibling of catalogue function(s) `of` (a name or a tuple of names)."""
    ad.T(name, desc, props, req, tpls, samp, par, tools=ad.EXTRA_TOOLS, specs=ad.EXTRA_SPECS)
    for o in (of,) if isinstance(of, str) else of:
        SIBLINGS.setdefault(o, []).append(name)


def cubic(r, t):
    a, b, c, d = r.choice([1, 1, 2, -1, 3]), r.randint(-6, 6), r.randint(-9, 9), r.randint(-12, 12)
    eq = {1: "x^3", -1: "-x^3"}.get(a, f"{a}x^3")
    for co, p in ((b, "x^2"), (c, "x")):
        eq += f" {'+' if co > 0 else '-'} {'' if abs(co) == 1 else abs(co)}{p}" if co else ""
    eq += f" {'+' if d > 0 else '-'} {abs(d)}" if d else ""
    return (str(a), a), (str(b), b), (str(c), c), (str(d), d), (eq + " = 0", None)


def linear(r, t):
    a, b = r.choice([2, 3, 4, 5, -2, 7]), r.choice([v for v in range(-20, 21) if v])
    return (str(a), a), (str(b), b), (f"{a}x {'+' if b > 0 else '-'} {abs(b)} = 0", None)


CUR = ad.CURRENCY
MASS = [("kilograms", "kg"), ("kg", "kg"), ("grams", "g"), ("pounds", "lb"), ("ounces", "oz"), ("stone", "st")]
X("quadratic_equation_solver", "cubic_equation_solver", "Solve a*x^3 + b*x^2 + c*x + d = 0 and return its three roots.",
  {"a": N("Coefficient of x^3, non-zero"), "b": N("Coefficient of x^2"), "c": N("Coefficient of x"), "d": N("Constant term")}, "a b c d",
  ["Solve {eq}.", "Find the roots of the cubic {eq}", "What are the solutions of {eq}?"], {("a", "b", "c", "d", "eq"): cubic},
  [("Solve these cubics: {LIST}.", "{eq}")])
X("quadratic_equation_solver", "linear_equation_root", "Solve the linear equation a*x + b = 0 for x.",
  {"a": N("Coefficient of x, non-zero"), "b": N("Constant term")}, "a b",
  ["Solve {eq}.", "What is x if {eq}?", "Find x in {eq}"], {("a", "b", "eq"): linear}, [("Solve for x: {LIST}.", "{eq}")])
X("circle_area", "circle_circumference", "Calculate the circumference (perimeter) of a circle from its radius.",
  {"radius": N("Radius of the circle", minimum=0)}, "radius",
  ["What's the circumference of a circle with radius {radius}?", "How long is the edge of a circle of radius {radius}?",
   "perimeter of a circle, r = {radius}"], {"radius": fl(0.5, 30)}, [("Give me the circumferences of circles with radii {LIST}.", "{radius}")])
X("circle_area", "sphere_volume", "Calculate the volume of a sphere from its radius.", {"radius": N("Radius of the sphere", minimum=0)}, "radius",
  ["What's the volume of a sphere with radius {radius}?", "How much does a ball of radius {radius} cm hold?"], {"radius": fl(0.5, 30)},
  [("Volumes of spheres with radii {LIST}?", "{radius}")])
X("compute_factorial", "compute_permutations", "Number of ordered arrangements of k items taken from n distinct items (nPr).",
  {"n": I(minimum=0), "k": I(minimum=0)}, "n k",
  ["In how many orders can {k} of {n} runners finish first, second and so on?", "How many permutations of {k} items from {n} are there?",
   "nPr with n={n} and k={k}"], {"n": it(5, 20), "k": it(2, 4, words=0.5)})
X("compute_factorial", "compute_combinations", "Number of ways to choose k items from n when order does not matter (n choose k).",
  {"n": I(minimum=0), "k": I(minimum=0)}, "n k",
  ["How many ways can I pick {k} people out of {n}?", "What is {n} choose {k}?", "How many different {k}-card hands from {n} cards?"],
  {"n": it(5, 52), "k": it(2, 5, words=0.5)})
X("greatest_common_divisor", "least_common_multiple", "Find the least common multiple of two positive integers.",
  {"a": I(minimum=1), "b": I(minimum=1)}, "a b",
  ["What's the least common multiple of {a} and {b}?", "lcm({a}, {b})", "Smallest number that both {a} and {b} divide?"],
  {"a": it(2, 60), "b": it(2, 60)}, [("Find the LCM of each pair: {LIST}.", "{a} and {b}")])
X("primality_test", "prime_factorization", "List the prime factors of an integer.", {"n": I("Integer to factor", minimum=2)}, "n",
  ["What are the prime factors of {n}?", "Factor {n} into primes.", "prime factorization of {n}"], {"n": it(12, 100000)},
  [("Factor these into primes: {LIST}.", "{n}")])
X(("arithmetic_mean", "stdev_of_values"), "median_of_values", "Return the median (middle value) of a list of numbers.",
  {"numbers": ad.NUMS}, "numbers", ["What's the median of {numbers}?", "middle value of {numbers}", "Find the median of these: {numbers}"],
  {"numbers": nums(0, 100, nd=1)})
X(("arithmetic_mean", "stdev_of_values"), "variance_of_values", "Compute the variance of a list of numbers.",
  {"numbers": ad.NUMS, "sample": B("True for the sample (n-1) variance; default false")}, "numbers",
  ["What's the variance of {numbers}?", ("Sample variance of {numbers}, please.", {"sample": True}), "variance for {numbers}"],
  {"numbers": nums(0, 60, k=(4, 8), nd=2)})
X("kinetic_energy", "momentum_of_body", "Linear momentum of a moving body (mass times velocity) in kg*m/s.",
  {"mass": N("Mass in kilograms"), "velocity": N("Speed in meters per second")}, "mass velocity",
  ["What's the momentum of a {mass} kg object moving at {velocity} m/s?", "momentum for mass {mass} kg and velocity {velocity} m/s",
   "A {mass}-kilogram cart rolls at {velocity} meters per second. How much momentum does it carry?"],
  {"mass": fl(0.1, 2000), "velocity": fl(0.5, 90)}, [("Compute the momentum for each: {LIST}.", "{mass} kg at {velocity} m/s")])
X("kinetic_energy", "potential_energy", "Gravitational potential energy of a mass raised to a height, in joules.",
  {"mass": N("Mass in kilograms"), "height": N("Height in meters")}, "mass height",
  ["What's the potential energy of a {mass} kg mass lifted {height} m?", "potential energy: m={mass} kg, h={height} m"],
  {"mass": fl(0.1, 500), "height": fl(1, 300)})
X("fall_time", "fall_impact_speed", "Speed at which an object dropped from rest hits the ground, ignoring air resistance.",
  {"height": N("Drop height in meters", minimum=0), "gravity": N("m/s^2; default 9.81 (Earth)")}, "height",
  ["How fast is something going when it hits the ground after falling {height} meters?", "impact speed for a drop of {height} m",
   ("How fast would a rock dropped from {height} m hit the ground on the Moon?", {"gravity": 1.62})], {"height": fl(1, 500)},
  [("What are the impact speeds for drops of {LIST} meters?", "{height}")])
X("currency_exchange", "currency_exchange_history", "Exchange rate between two currencies on a past date (no conversion).",
  {"source_currency": S("ISO 4217 code"), "target_currency": S("ISO 4217 code"), "date": S(**DATE)}, "source_currency target_currency date",
  ["What was the {source_currency} to {target_currency} rate on {date}?", "exchange rate {source_currency}/{target_currency} on {date}"],
  {"source_currency": ch(*CUR), "target_currency": ch(*CUR), "date": day(2015, 2025)})
X("stock_price_lookup", "stock_dividend_info", "Dividend yield and upcoming payout dates of a stock.", {"symbol": S("Ticker symbol")}, "symbol",
  ["What dividend does {symbol} pay?", "When is the next {symbol} dividend?", "dividend yield of {symbol}"], {"symbol": ch(*ad.TICKERS)},
  [("What are the dividend yields of {LIST}?", "{symbol}")])
X("future_value_compound", "present_value", "Present value today of an amount due in the future, discounted at a yearly rate.",
  {"future_amount": N("Amount due later"), "annual_rate": N(ad.RATE), "years": I(minimum=1)}, "future_amount annual_rate years",
  ["How much is {future_amount} received in {years} years worth today at {annual_rate}?",
   "present value of {future_amount} due in {years} years, discount rate {annual_rate}"],
  {"future_amount": amt(1000, 5000, 10000, 50000, dollars=True), "annual_rate": pct(2, 3, 4.5, 5, 7), "years": it(1, 30, words=0.3)})
X("monthly_loan_payment", "loan_total_interest", "Total interest paid over the whole life of a fixed-rate loan.",
  {"principal": N("Amount borrowed"), "annual_rate": N(ad.RATE), "term_years": I(minimum=1)}, "principal annual_rate term_years",
  ["How much interest will I pay in total on {principal} at {annual_rate} over {term_years} years?",
   "Total interest on a {term_years}-year loan of {principal} at {annual_rate}"],
  {"principal": amt(15000, 250000, 320000, 30000, dollars=True), "annual_rate": pct(3.9, 4.5, 6, 7.1), "term_years": ch(5, 10, 15, 20, 30)})
X("area_of_triangle", "perimeter_of_triangle", "Perimeter of a triangle from the lengths of its three sides.",
  {"side_a": N(), "side_b": N(), "side_c": N()}, "side_a side_b side_c",
  ["What's the perimeter of a triangle with sides {side_a}, {side_b} and {side_c}?", "triangle sides {side_a}, {side_b}, {side_c}: perimeter?"],
  {"side_a": fl(3, 20), "side_b": fl(3, 20), "side_c": fl(3, 20)})
X(("area_of_triangle", "circle_area"), "area_of_rectangle", "Area of a rectangle from its length and width.",
  {"length": N(), "width": N()}, "length width",
  ["What's the area of a rectangle {length} long and {width} wide?", "rectangle area, length {length}, width {width}"],
  {"length": fl(1, 80), "width": fl(1, 50)}, [("Areas of rectangles: {LIST}?", "{length} by {width}")])
X("cylinder_volume", "cylinder_surface_area", "Total surface area of a right circular cylinder (both ends and the side).",
  {"radius": N("Radius of the base"), "height": N("Height")}, "radius height",
  ["What's the surface area of a cylinder with radius {radius} and height {height}?", "How much sheet metal covers a closed cylinder r={radius}, h={height}?"],
  {"radius": fl(0.5, 10), "height": fl(1, 30)})
X("cylinder_volume", "cone_volume", "Volume of a right circular cone.", {"radius": N("Radius of the base"), "height": N("Height")}, "radius height",
  ["What's the volume of a cone with radius {radius} and height {height}?", "cone volume r={radius} h={height}"],
  {"radius": fl(0.5, 10), "height": fl(1, 30)}, [("Volumes of these cones: {LIST}?", "radius {radius}, height {height}")])
X("days_between_dates", "business_days_between", "Number of working days (Monday to Friday) from one date to another.",
  {"start_date": S(**DATE), "end_date": S(**DATE)}, "start_date end_date",
  ["How many working days are there between {start_date} and {end_date}?", "business days from {start_date} to {end_date}"],
  {("start_date", "end_date"): two_days})
X("day_of_week", "day_of_year", "Ordinal day of the year (1 to 366) of a date.", {"date": S(**DATE)}, "date",
  ["Which day of the year is {date}?", "day number of {date} within its year"], {"date": day(1950, 2030)})
X("add_days", "subtract_days", "Date a number of days before a given date.", {"date": S(**DATE), "days": I("Days to go back")}, "date days",
  ["What date was it {days} days before {date}?", "Go back {days} days from {date}.", "Which date is {days} days earlier than {date}?"],
  {"date": day(2024, 2028), "days": it(2, 400)})
X("local_time", "time_zone_offset", "UTC offset of a time zone (for example +09:00), not the time.",
  {"timezone": S("IANA time zone name")}, "timezone",
  ["What's the UTC offset of {timezone}?", "How many hours ahead of UTC is {timezone}?"], {"timezone": ch(*ad.ZONES)})
X("city_population", "country_population", "Population of a whole country.", {"country": S()}, "country",
  ["What's the population of {country}?", "How many people live in {country}?"], {"country": ch(*ad.COUNTRIES)},
  [("Populations of {LIST}?", "{country}")])
X("capital_city", "country_currency", "Official currency of a country.", {"country": S()}, "country",
  ["What currency do they use in {country}?", "Which money should I bring to {country}?", "official currency of {country}"],
  {"country": ch(*ad.COUNTRIES)}, [("What are the currencies of {LIST}?", "{country}")])
X("text_translator", "detect_language", "Detect which language a text is written in.", {"text": ad.TEXT}, "text",
  ["What language is \"{text}\"?", "Which language is this written in: {text}"],
  {"text": ch("guten Morgen", "merci beaucoup", "dónde está la estación", "arigatou gozaimasu", "obrigado", "dank je wel")})
X("count_words_in", "count_characters_in", "Count the characters (letters, digits, spaces, punctuation) in a text.",
  {"text": ad.TEXT}, "text", ["How many characters are in \"{text}\"?", "character count for '{text}'"], {"text": ch(*ad.SENTENCES)})
X("reverse_string", "reverse_word_order", "Reverse the order of the words in a sentence, each word kept as it is.",
  {"text": ad.TEXT}, "text", ["Reverse the word order of '{text}'.", "Put the words of \"{text}\" in reverse order."],
  {"text": ch(*ad.SENTENCES)})
X("search_flights", "flight_status", "Live status (on time, delayed, gate) of a flight by its flight number.",
  {"flight_number": S("e.g. LH 442"), "date": S(**DATE)}, "flight_number",
  ["Is flight {flight_number} on time?", "Status of {flight_number} {date}?", "Has {flight_number} landed yet?"],
  {"flight_number": ad.code(("AA ###", "LH ###", "BA ####", "AF ###", "DL ##")), "date": when})
X("reserve_hotel", "hotel_reviews", "Guest reviews and average rating of a hotel.", {"hotel": S(), "city": S()}, "hotel",
  ["What do guests say about the {hotel} in {city}?", "Reviews of {hotel}, please.", "Is the {hotel} in {city} any good?"],
  {"hotel": ch("Grand Palace Hotel", "Hotel Aurora", "Riverside Inn", "The Linden"), "city": ch(*ad.CITIES)})
X("movie_details", "movie_screening_times", "Cinema showtimes of a film in a city.", {"title": S(), "city": S(), "date": S(**DATE)}, "title city",
  ["When is {title} playing in {city}?", "Showtimes for {title} in {city} {date}", "Where can I see {title} in {city} {date}?"],
  {"title": ch("Dune", "Oppenheimer", "Up", "Arrival"), "city": ch(*ad.CITIES), "date": when})
X("artist_top_tracks", "artist_tour_dates", "Upcoming concert dates of an artist.", {"artist": S()}, "artist",
  ["When is {artist} touring next?", "Is {artist} playing any concerts soon?", "{artist} tour dates"], {"artist": ch(*ad.ARTISTS)},
  [("Tour dates for {LIST}?", "{artist}")])
X("team_fixtures", "team_results", "Recent results (past games and scores) of a team.", {"team": S(), "count": I("How many games; default 5", minimum=1)},
  "team", ["How did the {team} do in their last games?", "Show the last {count} results of {team}.", "{team} recent scores"],
  {"team": ch(*ad.TEAMS), "count": it(2, 10, words=0.4)}, [("Latest results of {LIST}?", "{team}")])
X("player_season_stats", "player_career_stats", "Career totals of an athlete over all seasons.", {"player": S()}, "player",
  ["What are {player}'s career numbers?", "career stats for {player}", "How has {player} done over their whole career?"],
  {"player": ch(*ad.PLAYERS)})
X("body_mass_index", "ideal_body_weight", "Healthy weight range for a given height.", {"height_m": N("Height in meters")}, "height_m",
  ["What's a healthy weight for someone {height_m} tall?", "ideal weight range at {height_m}"], {"height_m": ad.height})
X(("length_converter", "temperature_converter"), "weight_converter", "Convert a mass or weight between units.",
  {"value": N(), "from_unit": E(["kg", "g", "lb", "oz", "st"]), "to_unit": E(["kg", "g", "lb", "oz", "st"])}, "value from_unit to_unit",
  ["Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?"],
  {"value": fl(0.5, 500), "from_unit": ch(*MASS), "to_unit": ch(*MASS)}, [("Convert {LIST} {from_unit} to {to_unit}.", "{value}")])
X("order_status", "order_cancel", "Cancel a customer order that has not shipped yet.", {"order_id": S("Order number without the '#'")}, "order_id",
  ["Cancel order {order_id}.", "Please cancel my order {order_id}.", "I want to cancel {order_id}"],
  {"order_id": ad.code(("#####", "######"), ("#{}", "{}", "number {}"))})

# Near-topic requests a function cannot serve: (template, functions that could serve it). The
# fields are the function's own sampler keys; `served_by` siblings are never offered with it.
NEAR: dict[str, list] = {
    "circle_area": ["What's the diameter of a circle with radius {radius}?", "What's the area of a circle?",
                    ("How long is the rim of a wheel with radius {radius}?", ["circle_circumference"])],
    "area_of_triangle": ["Find the area of a triangle with base {base}.", "What are the angles of a triangle with base {base} and height {height}?",
                         "Is a triangle with base {base} and height {height} a right triangle?"],
    "quadratic_equation_solver": ["What's the square root of {SQ}?", "What's the derivative of {eq}?", "Plot the parabola from {eq}.",
                                  "What's the vertex of the parabola in {eq}?"],
    "compute_factorial": ["What's {n} raised to the power of 3?", "What's the gamma function at {n}.5?",
                          ("How many ways can I seat 3 of {n} guests in a row?", ["compute_permutations"])],
    "greatest_common_divisor": ["Is {a} divisible by {b}?", "What's the remainder when {a} is divided by {b}?",
                                ("What's the smallest number both {a} and {b} divide into?", ["least_common_multiple"])],
    "primality_test": ["What's the next prime number after {n}?", "How many primes are there below {n}?",
                       ("What primes multiply to give {n}?", ["prime_factorization"])],
    "arithmetic_mean": ["What's the largest number in {numbers}?", "Sort {numbers} from smallest to largest.", "What's the average of my test scores?",
                        ("What's the middle value of {numbers}?", ["median_of_values"])],
    "stdev_of_values": ["What's the range of {numbers}?", "What is the sum of {numbers}?"],
    "kinetic_energy": ["What's the kinetic energy of a moving car?", "What's the kinetic energy of a {mass} kg object?",
                       "How fast must a {mass} kg object move to have 500 J of kinetic energy?"],
    "fall_time": ["How high does a ball thrown straight up at {height} m/s go?", "How long does it take to fall?"],
    "velocity_after_acceleration": ["How far does a car travel if it accelerates from rest at {acceleration} m/s² for {time} s?",
                                    "What force is needed to accelerate a 1000 kg car at {acceleration} m/s²?"],
    "current_from_voltage": ["How much power does a {resistance} ohm resistor dissipate at {voltage} volts?",
                             "What resistance do I need for an LED on {voltage} volts?"],
    "currency_exchange": ["Convert {amount} {source_currency}.", "Will the euro get stronger next year?",
                          ("What was the exchange rate from {source_currency} to {target_currency} last March?", ["currency_exchange_history"])],
    "stock_price_lookup": ["Should I buy {symbol} stock?", "What's the market cap of {symbol}?", "Sell 10 shares of {symbol}.",
                           ("How much dividend does {symbol} pay?", ["stock_dividend_info"])],
    "monthly_loan_payment": ["What would my monthly mortgage payment be?", "How much can I borrow on a salary of $60,000?",
                             "What's my credit score?"],
    "future_value_compound": ["How much do I need to invest today to have $10,000 in {years} years?", "What will my savings be worth?"],
    "price_with_tax": ["What's the sales tax rate in Texas?", "Is {amount} a good price for a used bike?"],
    "split_bill": ["How much should I tip in Japan?", "Split the bill."],
    "length_converter": [("Convert {value} pounds to kilograms.", ["weight_converter"]), "How many liters are in a gallon?",
                         "Convert {value} {from_unit}.", "What's the area of a {value} by 20 meter room in square feet?"],
    "temperature_converter": ["What's the temperature outside right now?", "Convert {value} {from_scale}.",
                              "At what temperature does water boil on Everest?"],
    "text_translator": ["Fix the grammar of '{text}'.", "Translate this into {target_language}.",
                        ("What language is 'gracias amigo' in?", ["detect_language"])],
    "count_words_in": ["How many vowels are in \"{text}\"?", "Is \"{text}\" grammatically correct?",
                       ("How many characters long is '{text}'?", ["count_characters_in"])],
    "reverse_string": ["Make '{text}' uppercase.", "Sort the letters of '{text}' alphabetically."],
    "thesaurus_lookup": ["What does '{word}' mean?", "Give me antonyms of {word}.", "How do you spell {word} backwards?"],
    "days_between_dates": ["Is {end_date} a public holiday?", "What's the date {start_date} plus two weeks?"],
    "day_of_week": ["Which week number is {date}?", "Was {date} a full moon?", "Is {date} a holiday?"],
    "local_time": ["What time does the sun set in {timezone}?", "Set my clock to {timezone} time.",
                   ("What's the UTC offset in {timezone}?", ["time_zone_offset"])],
    "age_calculator": ["What's my zodiac sign if I was born {birth_date}?", "How old is the Eiffel Tower?"],
    "city_population": ["What's the area of {city} in square kilometers?", "Who is the mayor of {city}?",
                        "What's the population of Brazil?"],
    "capital_city": ["What language do they speak in {country}?", "What's the national dish of {country}?",
                     ("What currency is used in {country}?", ["country_currency"])],
    "search_flights": ["Find me a flight to {destination}.", "Cancel my flight to {destination}.", "What's the baggage allowance on my flight?",
                       ("Is flight LH 442 delayed?", ["flight_status"])],
    "reserve_hotel": ["Book a hotel in {city}.", "Cancel my hotel booking in {city}.",
                      ("Are the reviews of the Hotel Aurora in {city} good?", ["hotel_reviews"])],
    "nearby_restaurants": ["What's the recipe for pad thai?", "Is the {cuisine} place near me open now?"],
    "book_table": ["Book a table at {restaurant}.", "Cancel my reservation at {restaurant}.", "What's on the menu at {restaurant}?"],
    "recipes_by_ingredients": ["What wine goes with {ingredients}?", "Order {ingredients} for delivery."],
    "nutrition_info": ["How many steps should I walk each day?", "Is {food} gluten free?"],
    "calories_burned": ["How many minutes should I run each week?", "What's my resting heart rate?"],
    "body_mass_index": ["What's my BMI?", "What's my body fat percentage if I weigh {weight_kg} kg?",
                        ("What should someone {height_m} tall weigh?", ["ideal_body_weight"])],
    "player_season_stats": ["How much does {player} earn?", "Which team will {player} play for next year?",
                            ("What are {player}'s career totals?", ["player_career_stats"])],
    "team_fixtures": ["Buy two tickets for the next {team} game.", "Who is the coach of the {team}?",
                      ("Did the {team} win yesterday?", ["team_results"])],
    "song_lyrics": ["Play {title} by {artist}.", "Who wrote the song {title}?", "Add {title} to my playlist."],
    "artist_top_tracks": ["Play {artist}'s latest album.", "Follow {artist} for me.",
                          ("When is {artist}'s next concert?", ["artist_tour_dates"])],
    "movie_details": ["Where can I stream {title}?", "Buy two tickets for {title} tonight.",
                      ("What time is {title} on at the cinema in Oslo?", ["movie_screening_times"])],
    "shop_product_search": ["Return the {query} I bought last week.", "Add {query} to my wishlist."],
    "order_status": ["Where is my order?", "Change the delivery address of order {order_id}.",
                     ("Cancel order {order_id}.", ["order_cancel"])],
    "track_parcel": ["Where's my parcel?", "How much does it cost to ship a parcel to Canada with {carrier}?"],
    "request_time_off": ["How many vacation days do I have left?", "Cancel my leave request.", "When is the next company holiday?"],
    "open_ticket": ["How many urgent tickets are open?", "Close the ticket about the login page."],
    "assign_ticket": ["Who is working on {ticket_id}?", "Close {ticket_id}.", "Assign {ticket_id} to someone."],
    "create_zip_archive": ["Unzip {archive_name}.", "What's inside {archive_name}?"],
    "file_checksum": ["Delete {path}.", "How big is {path}?", "Who last changed {path}?"],
    "search_files": ["Delete all {pattern} files in {directory}.", "How much free space is left in {directory}?"],
    "planet_facts": ["When is the next solar eclipse?", "How far away is the Moon?", "What's the surface temperature of {planet}?"],
    "radioactive_decay": ["What's the half-life of carbon-14?", "Is uranium radioactive?"],
    "formula_molar_mass": ["Balance the equation H2 + O2 -> H2O.", "Is {formula} soluble in water?"],
    "ph_from_hydrogen_ions": ["What's the pH of lemon juice?", "Is vinegar an acid or a base?"],
    "make_random_password": ["Is 'hunter2' a strong password?", "Reset my email password."],
    "roll_dice": ["Shuffle a deck of cards.", "Pick a random card."],
    "euclidean_distance": ["What's the midpoint between {point_a} and {point_b}?", "What's the slope of the line through {point_a} and {point_b}?"],
    "round_to_decimals": ["What's {value} as a fraction?", "Is {value} an integer?"],
    "travel_distance": ["How long does it take to drive from {origin} to {destination}?", "Is the road from {origin} to {destination} open?"],
    "train_timetable": ["Buy a ticket from {from_station} to {to_station}.", "Is the train to {to_station} delayed?"],
    "visa_requirements": ["How long does it take to renew a {passport_country} passport?", "What vaccines do I need for {destination_country}?"],
    "sunrise_sunset": ["When is the next full moon?", "What's the UV index in {city} today?"],
    "binomial_probability": ["What's the expected value of a lottery ticket?", "What's the probability distribution of my exam scores?"],
    "league_standings": ["Who is the top scorer in the {league}?", "Buy a {league} season pass."],
    "is_palindrome": ["Make '{text}' uppercase.", "How many letters does '{text}' have?"],
}


def _near_fill(r, today, name, text):
    spoken, vals, group = ad._draw(r, today, ad.spec(name)[1])
    spoken["SQ"] = str(r.choice([2, 10, 49, 50, 81, 144, 200, 625, 1000]))
    return text.format(**spoken)


def _catalogue_distractors(r, exclude, lo, hi):
    pool = [t for t in ad.TOOLS if t not in exclude]
    return r.sample(pool, r.randint(lo, hi))


def near_negative(r, today):
    """(query, offered, [])."""
    name = r.choice(list(NEAR))
    sibs = SIBLINGS.get(name, [])
    if sibs and r.random() < 0.3:  # a sibling's request, with the function it is a sibling of
        target = r.choice(sibs)
        q, _, text = ad._single(r, today, target, r.choice(ad.spec(target)[0]))
        q, served = ad._style(r, q, text), {target}
    else:
        entry = r.choice(NEAR[name])
        text, served = (entry, set()) if isinstance(entry, str) else (entry[0], set(entry[1]))
        q = _near_fill(r, today, name, text)
    offered = [name] + [s for s in sibs if s not in served and r.random() < 0.6]
    offered += _catalogue_distractors(r, set(offered) | served | {"book_table", "nutrition_info", "formula_molar_mass"}, 0, 3)
    return q, offered, []


def _end(q):
    return q if q[-1] in ".?!" else q + "."


def _join(r, parts):
    """Requests in one utterance: (query, template) pairs."""
    glue = r.choice([" ", " Also, ", " And ", "\n", " Then "])
    out = []
    for i, (q, text) in enumerate(parts):
        q = _end(q)
        if i and glue in (" Also, ", " And ", " Then ") and text[0] != "{":
            q = q[0].lower() + q[1:]
        out.append(q)
    return glue.join(out)


def _group(name):
    """The function, its siblings, and the functions it is a sibling of."""
    return [name] + SIBLINGS.get(name, []) + [g for g, s in SIBLINGS.items() if name in s]


def sibling_pick(r, today):
    gold = r.choice(list(SIBLINGS))
    group = list(dict.fromkeys(_group(gold)))
    target = gold if r.random() < 0.5 else r.choice(group[1:])
    if ad.spec(target)[2] and r.random() < 0.2:
        q, calls = ad._parallel(r, today, target, r.choice([2, 3]))
    else:
        q, call, text = ad._single(r, today, target, r.choice(ad.spec(target)[0]))
        q, calls = ad._style(r, q, text), [call]
    offered = group + _catalogue_distractors(r, set(group), 0, 3)
    return q, offered, calls


def _any_function(r):
    return r.choice(list(ad.TOOLS)) if r.random() < 0.75 else r.choice(list(ad.EXTRA_TOOLS))


def parallel_n(r, today):
    name = _any_function(r)
    while not ad.spec(name)[2] and r.random() < 0.7:  # mostly functions with a list form
        name = _any_function(r)
    q, calls = ad._parallel(r, today, name, r.choice([2, 3, 3, 4, 4, 5, 5]))
    group = _group(name)
    offered = list(dict.fromkeys([name] + [s for s in group if r.random() < 0.5] + _catalogue_distractors(r, set(group), 0, 3)))
    return q, offered, calls


def multi_function(r, today):
    names = []
    while len(names) < r.choice([2, 2, 3]):
        n = _any_function(r) if not names or r.random() < 0.7 else r.choice(_group(names[0]))
        if n not in names:
            names.append(n)
    parts, calls = [], []
    for name in names:
        if r.random() < 0.3:
            q, cs = ad._parallel(r, today, name, r.choice([2, 2, 3]))
            parts.append((q, q))
        else:
            q, c, text = ad._single(r, today, name, r.choice(ad.spec(name)[0]))
            parts.append((q, text))
            cs = [c]
        calls += cs
    extra = [s for n in names for s in _group(n) if s not in names and r.random() < 0.3]
    offered = list(dict.fromkeys(names + extra + _catalogue_distractors(r, set(names), 0, 3)))
    return _join(r, parts), offered, calls


KINDS = {"near_negative": near_negative, "sibling_pick": sibling_pick, "parallel_n": parallel_n, "multi_function": multi_function}


def example(kind, r, today):
    """(query, offered function names in a shuffled order, calls)."""
    q, offered, calls = KINDS[kind](r, today)
    offered = list(dict.fromkeys(offered))
    r.shuffle(offered)
    return q, offered, calls


def self_test(n=400, seed=3):
    import json

    import jsonschema

    for name, spec in ad.EXTRA_TOOLS.items():
        ad._check_schema(spec["parameters"], name)
        tpls, samp, par = ad.EXTRA_SPECS[name]
        group = ad._draw(random.Random(0), dt.date(2026, 1, 1), samp)[2]
        required = set(spec["parameters"].get("required", []))
        for text, consts in [ad._tpl(t) for t in tpls] + [(h + " " + f, (c or [{}])[0]) for h, f, *c in par]:
            assert set(ad._fields(text)) <= set(group), (name, text)
            assert required <= ad._used(name, ad._fields(text), group) | set(consts), (name, text)
    for name, entries in NEAR.items():
        keys = set(ad._draw(random.Random(0), dt.date(2026, 1, 1), ad.spec(name)[1])[2]) | {"SQ"}
        for e in entries:
            text = e if isinstance(e, str) else e[0]
            assert set(ad._fields(text)) <= keys, (name, text)
    r, today = random.Random(seed), dt.date(2026, 3, 11)
    for kind in KINDS:
        for i in range(n):
            q, offered, calls = example(kind, r, today)
            assert q and offered and (calls or kind == "near_negative") and not (calls and kind == "near_negative")
            for c in calls:
                assert c["name"] in offered
                jsonschema.validate(c["arguments"], ad.tool(c["name"])["parameters"], format_checker=jsonschema.FormatChecker())
            if i < 4:
                print(kind, "|", q.replace("\n", " / "), "|", offered, "->", json.dumps(calls, ensure_ascii=False))
    print(f"{len(ad.EXTRA_TOOLS)} sibling functions, {sum(map(len, NEAR.values()))} near-topic templates: OK")


if __name__ == "__main__":
    self_test()
