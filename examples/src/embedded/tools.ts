/**
 * The tool pool of the embedded study: invented APIs in the two naming styles seen in ToolRL
 * (RapidAPI-like "Title Case Names") and BFCL ("snake_case_names"). Everything here is written
 * for this project; nothing is copied from the ToolRL or BFCL data.
 *
 * `requests` are user-turn templates; `{param}` slots are filled with one of the parameter's
 * `values`. Some tools take no parameters, as in real tool catalogues.
 */
export interface ToolParam {
  readonly name: string
  readonly type: "string" | "integer" | "float" | "boolean"
  readonly description: string
  readonly values: ReadonlyArray<string | number | boolean>
  readonly default?: string
}

export interface ToolSpec {
  readonly name: string
  readonly description: string
  readonly params: ReadonlyArray<ToolParam>
  readonly requests: ReadonlyArray<string>
  /** Topic words used in prose about the tool. */
  readonly topic: string
}

const CITIES = [
  "Paris",
  "Tokyo",
  "Cairo",
  "Lima",
  "Oslo",
  "Denver",
  "Madrid",
  "Seoul",
  "Boston",
  "Nairobi",
  "Dublin",
  "Perth"
]
const TEAMS = ["Lions", "Hawks", "Rovers", "United", "Falcons", "Tigers", "Rangers", "Comets"]
const PEOPLE = [
  "Alex Ferguson",
  "Maria Lopez",
  "John Smith",
  "Aiko Tanaka",
  "Peter Novak",
  "Sara Khan",
  "Tom Becker",
  "Lena Ortiz"
]
const TICKERS = ["AAPL", "MSFT", "TSLA", "AMZN", "NVDA", "GOOG", "IBM", "ORCL"]
const CURRENCIES = ["USD", "EUR", "JPY", "GBP", "CHF", "CAD", "AUD", "INR"]
const DATES = ["2024-03-14", "2024-07-01", "2023-11-20", "2025-01-09", "2024-12-25", "2023-05-30"]
const LANGS = ["French", "Spanish", "German", "Italian", "Japanese", "Korean"]
const FOODS = ["pasta", "curry", "salad", "soup", "pancakes", "tacos", "risotto", "bread"]
const WORDS = ["serendipity", "harbor", "lantern", "meadow", "quantum", "velvet", "orbit", "glacier"]
const GENRES = ["jazz", "rock", "classical", "hip hop", "folk", "blues"]
const SHAPES = ["circle", "square", "triangle", "hexagon"]

const p = (
  name: string,
  type: ToolParam["type"],
  description: string,
  values: ReadonlyArray<string | number | boolean>,
  dflt?: string
): ToolParam =>
  dflt === undefined ? { name, type, description, values } : { name, type, description, values, default: dflt }

export const TOOLS: ReadonlyArray<ToolSpec> = [
  {
    name: "Get Weather Forecast",
    description: "Get the weather forecast for a city for the next few days.",
    params: [
      p("city", "string", "The name of the city", CITIES),
      p("days", "integer", "Number of days to forecast", [1, 3, 5, 7], "3")
    ],
    requests: [
      "What will the weather be like in {city} over the next {days} days?",
      "Can you get me the forecast for {city} for {days} days?"
    ],
    topic: "weather"
  },
  {
    name: "Search Managers",
    description: "Search for football managers by name and retrieve their information.",
    params: [p("name", "string", "The name of the manager to search for", PEOPLE)],
    requests: [
      "Could you help me find information on the manager {name}?",
      "I want to know more about the coach {name}."
    ],
    topic: "football"
  },
  {
    name: "Team Match Schedule",
    description: "Returns the upcoming matches of a sports team.",
    params: [
      p("team", "string", "The team name", TEAMS),
      p("limit", "integer", "How many matches to return", [3, 5, 10], "5")
    ],
    requests: ["When do the {team} play next? Show me {limit} matches.", "List the next {limit} games of the {team}."],
    topic: "sports"
  },
  {
    name: "Stock Quote",
    description: "Get the latest price quote for a stock ticker symbol.",
    params: [p("symbol", "string", "The stock ticker symbol", TICKERS)],
    requests: ["What is the current price of {symbol} stock?", "Give me a quote for {symbol}."],
    topic: "finance"
  },
  {
    name: "Currency Converter",
    description: "Convert an amount of money from one currency to another.",
    params: [
      p("amount", "float", "The amount to convert", [10, 250, 99.5, 1200]),
      p("from", "string", "The source currency code", CURRENCIES),
      p("to", "string", "The target currency code", CURRENCIES)
    ],
    requests: ["How much is {amount} {from} in {to}?", "Please convert {amount} {from} to {to}."],
    topic: "finance"
  },
  {
    name: "Translate Text",
    description: "Translate a short text into a target language.",
    params: [
      p("text", "string", "The text to translate", [
        "good morning",
        "thank you very much",
        "where is the station",
        "see you tomorrow"
      ]),
      p("language", "string", "The target language", LANGS)
    ],
    requests: ["How do you say '{text}' in {language}?", "Translate '{text}' into {language} for me."],
    topic: "language"
  },
  {
    name: "Find Recipes",
    description: "Find cooking recipes that use a given ingredient or dish name.",
    params: [
      p("query", "string", "The dish or ingredient", FOODS),
      p("max_results", "integer", "Maximum number of recipes", [3, 5, 10], "5")
    ],
    requests: ["Can you find me {max_results} recipes for {query}?", "I want to cook {query} tonight. Any recipes?"],
    topic: "cooking"
  },
  {
    name: "Dictionary Lookup",
    description: "Look up the definition of an English word.",
    params: [p("word", "string", "The word to define", WORDS)],
    requests: ["What does the word '{word}' mean?", "Define {word} for me, please."],
    topic: "language"
  },
  {
    name: "Book Hotel Room",
    description: "Book a hotel room in a city for a check-in date and a number of nights.",
    params: [
      p("city", "string", "The city of the hotel", CITIES),
      p("check_in", "string", "Check-in date in YYYY-MM-DD format", DATES),
      p("nights", "integer", "Number of nights", [1, 2, 3, 5])
    ],
    requests: [
      "Book me a hotel in {city} from {check_in} for {nights} nights.",
      "I need a room in {city}, checking in on {check_in}, {nights} nights."
    ],
    topic: "travel"
  },
  {
    name: "Search Flights",
    description: "Search for flights between two cities on a given date.",
    params: [
      p("origin", "string", "Departure city", CITIES),
      p("destination", "string", "Arrival city", CITIES),
      p("date", "string", "Travel date in YYYY-MM-DD format", DATES)
    ],
    requests: [
      "Find flights from {origin} to {destination} on {date}.",
      "Are there any flights from {origin} to {destination} on {date}?"
    ],
    topic: "travel"
  },
  {
    name: "Movie Details",
    description: "Retrieve the plot, cast and rating of a movie by its title.",
    params: [
      p("title", "string", "The movie title", [
        "The Silent Harbor",
        "Red Orbit",
        "Glass Meadow",
        "Night Train",
        "Paper Kings"
      ])
    ],
    requests: ["Tell me about the movie {title}.", "Who stars in {title} and is it any good?"],
    topic: "movies"
  },
  {
    name: "Event Result",
    description: "Retrieve the result of a specific sports event by its ID.",
    params: [
      p("event_id", "integer", "The ID of the event", [1042, 5531, 877, 20931]),
      p("lang", "string", "The language of the result", ["en", "fr", "de"], "en")
    ],
    requests: ["What was the result of event {event_id}?", "Show me the outcome of match number {event_id} in {lang}."],
    topic: "sports"
  },
  {
    name: "Get Specific Fighter",
    description: "Retrieve statistics of a fighter from the fight database.",
    params: [
      p("fighter_name", "string", "The fighter name as Firstname_Lastname", [
        "Jon_Ramos",
        "Ana_Silva",
        "Max_Keller",
        "Yuki_Mori"
      ])
    ],
    requests: ["Give me the record of {fighter_name}.", "How many wins does {fighter_name} have?"],
    topic: "sports"
  },
  {
    name: "News Headlines",
    description: "Get the top news headlines for a topic.",
    params: [
      p("topic", "string", "The news topic", ["technology", "science", "politics", "health", "sports"]),
      p("count", "integer", "Number of headlines", [3, 5, 10], "5")
    ],
    requests: ["What are the top {count} headlines about {topic} today?", "Show me the latest {topic} news."],
    topic: "news"
  },
  {
    name: "Music Recommendations",
    description: "Recommend songs of a music genre.",
    params: [p("genre", "string", "The music genre", GENRES), p("count", "integer", "Number of songs", [5, 10], "5")],
    requests: ["Recommend me {count} {genre} songs.", "I feel like listening to some {genre}. Any suggestions?"],
    topic: "music"
  },
  {
    name: "Calculate Mortgage",
    description: "Calculate the monthly payment of a mortgage loan.",
    params: [
      p("principal", "float", "The loan amount", [150000, 320000, 450000]),
      p("rate", "float", "Annual interest rate in percent", [3.5, 4.2, 5.1]),
      p("years", "integer", "Loan term in years", [15, 20, 30])
    ],
    requests: [
      "What is the monthly payment on a {principal} loan at {rate} percent for {years} years?",
      "Calculate my mortgage: {principal} borrowed, {rate}% interest, {years} years."
    ],
    topic: "finance"
  },
  {
    name: "Send Email",
    description: "Send an email message to a recipient.",
    params: [
      p("to", "string", "The recipient email address", ["anna@example.com", "sales@example.org", "bob@example.net"]),
      p("subject", "string", "The subject line", ["Meeting tomorrow", "Invoice", "Quick question"]),
      p("body", "string", "The message text", [
        "See you at ten.",
        "Please find the details attached.",
        "Can we talk later today?"
      ])
    ],
    requests: [
      "Email {to} with the subject '{subject}' saying '{body}'",
      "Send a message to {to}: subject {subject}, text: {body}"
    ],
    topic: "office"
  },
  {
    name: "Create Calendar Event",
    description: "Create an event in the user's calendar.",
    params: [
      p("title", "string", "The event title", ["Dentist", "Team sync", "Birthday dinner", "Yoga class"]),
      p("date", "string", "Date in YYYY-MM-DD format", DATES),
      p("time", "string", "Start time as HH:MM", ["09:00", "13:30", "18:45"])
    ],
    requests: ["Add '{title}' to my calendar on {date} at {time}.", "Schedule {title} for {date} at {time}."],
    topic: "office"
  },
  {
    name: "Nearby Restaurants",
    description: "Find restaurants near a location, optionally by cuisine.",
    params: [
      p("location", "string", "City or neighborhood", CITIES),
      p("cuisine", "string", "Type of cuisine", ["Italian", "Thai", "Mexican", "Indian", "vegan"], "")
    ],
    requests: ["Where can I eat {cuisine} food in {location}?", "Find {cuisine} restaurants near {location}."],
    topic: "food"
  },
  {
    name: "Track Package",
    description: "Get the delivery status of a package by tracking number.",
    params: [p("tracking_number", "string", "The tracking number", ["1Z999AA10123", "TRK-55821", "PK40077213"])],
    requests: ["Where is my package {tracking_number}?", "Track parcel {tracking_number} for me."],
    topic: "shopping"
  },
  {
    name: "Product Search",
    description: "Search an online store for products matching a query.",
    params: [
      p("query", "string", "What to search for", ["running shoes", "desk lamp", "coffee grinder", "backpack"]),
      p("max_price", "float", "Maximum price", [50, 100, 250], "")
    ],
    requests: ["Find me {query} under {max_price} dollars.", "Search the store for {query}."],
    topic: "shopping"
  },
  {
    name: "Air Quality Index",
    description: "Get the current air quality index for a city.",
    params: [p("city", "string", "The city name", CITIES)],
    requests: ["How clean is the air in {city} right now?", "What is the air quality in {city}?"],
    topic: "weather"
  },
  {
    name: "Company Profile",
    description: "Retrieve the profile of a listed company by ticker.",
    params: [p("ticker", "string", "The stock ticker", TICKERS)],
    requests: ["Tell me about the company behind {ticker}.", "Give me the company profile for {ticker}."],
    topic: "finance"
  },
  {
    name: "Daily Match List",
    description: "Returns the list of matches scheduled on a date.",
    params: [p("date", "string", "The date in YYYY-MM-DD format", DATES)],
    requests: ["Which matches are played on {date}?", "Give me the match list for {date}."],
    topic: "sports"
  },
  {
    name: "Timezone Converter",
    description: "Convert a time from one city's timezone to another.",
    params: [
      p("time", "string", "Time as HH:MM", ["09:00", "13:30", "18:45"]),
      p("from_city", "string", "Source city", CITIES),
      p("to_city", "string", "Target city", CITIES)
    ],
    requests: [
      "If it is {time} in {from_city}, what time is it in {to_city}?",
      "Convert {time} {from_city} time to {to_city} time."
    ],
    topic: "travel"
  },
  {
    name: "Book Table",
    description: "Reserve a table at a restaurant.",
    params: [
      p("restaurant", "string", "The restaurant name", ["Casa Blue", "The Olive Tree", "Sakura House", "Bistro Nord"]),
      p("people", "integer", "Number of guests", [2, 4, 6]),
      p("time", "string", "Time as HH:MM", ["19:00", "20:30", "12:15"])
    ],
    requests: [
      "Reserve a table for {people} at {restaurant} at {time}.",
      "Can you book {restaurant} for {people} people at {time}?"
    ],
    topic: "food"
  },
  {
    name: "split_list",
    description: "Split a list into chunks of a given size.",
    params: [
      p("items", "string", "The list as a JSON array", ["[1,2,3,4,5]", "[10,20,30,40]", "[7,8,9]"]),
      p("chunk_size", "integer", "The size of each chunk", [2, 3])
    ],
    requests: [
      "Split {items} into chunks of size {chunk_size}.",
      "Can you break the list {items} into groups of {chunk_size}?"
    ],
    topic: "programming"
  },
  {
    name: "calculate_triangle_area",
    description: "Calculate the area of a triangle from its base and height.",
    params: [
      p("base", "float", "The base of the triangle", [3, 4.5, 10]),
      p("height", "float", "The height of the triangle", [2, 6, 8.5])
    ],
    requests: [
      "What is the area of a triangle with base {base} and height {height}?",
      "Find the area of a triangle, base {base}, height {height}."
    ],
    topic: "math"
  },
  {
    name: "solve_quadratic",
    description: "Solve a quadratic equation a*x^2 + b*x + c = 0.",
    params: [
      p("a", "integer", "Coefficient a", [1, 2, 3]),
      p("b", "integer", "Coefficient b", [-5, 4, 7]),
      p("c", "integer", "Coefficient c", [6, -3, 1])
    ],
    requests: ["Solve the equation with a={a}, b={b} and c={c}.", "Find the roots of {a}x^2 + {b}x + {c}."],
    topic: "math"
  },
  {
    name: "get_prime_factors",
    description: "Return the prime factors of an integer.",
    params: [p("number", "integer", "The number to factor", [84, 360, 1001, 97])],
    requests: ["What are the prime factors of {number}?", "Factor {number} into primes."],
    topic: "math"
  },
  {
    name: "calculate_bmi",
    description: "Calculate the body mass index from weight and height.",
    params: [
      p("weight_kg", "float", "Weight in kilograms", [60, 72.5, 90]),
      p("height_m", "float", "Height in meters", [1.65, 1.8, 1.92])
    ],
    requests: [
      "My weight is {weight_kg} kg and I am {height_m} m tall. What is my BMI?",
      "Compute the BMI for {weight_kg} kg and {height_m} m."
    ],
    topic: "health"
  },
  {
    name: "find_nearest_hospital",
    description: "Find the nearest hospitals to a location.",
    params: [
      p("location", "string", "City or address", CITIES),
      p("radius_km", "integer", "Search radius in km", [5, 10, 20], "10")
    ],
    requests: ["Where is the closest hospital in {location}?", "Find hospitals within {radius_km} km of {location}."],
    topic: "health"
  },
  {
    name: "get_population",
    description: "Get the population of a country or city for a year.",
    params: [
      p("place", "string", "The country or city", ["Japan", "Brazil", "Kenya", ...CITIES.slice(0, 4)]),
      p("year", "integer", "The year", [2000, 2010, 2020])
    ],
    requests: ["What was the population of {place} in {year}?", "How many people lived in {place} in {year}?"],
    topic: "geography"
  },
  {
    name: "convert_units",
    description: "Convert a value between units of measurement.",
    params: [
      p("value", "float", "The value to convert", [5, 12.5, 100]),
      p("from_unit", "string", "Source unit", ["miles", "pounds", "liters", "feet"]),
      p("to_unit", "string", "Target unit", ["kilometers", "kilograms", "gallons", "meters"])
    ],
    requests: ["Convert {value} {from_unit} to {to_unit}.", "How many {to_unit} is {value} {from_unit}?"],
    topic: "math"
  },
  {
    name: "geometry_area",
    description: "Compute the area of a basic shape.",
    params: [p("shape", "string", "The shape", SHAPES), p("size", "float", "The side length or radius", [2, 3.5, 7])],
    requests: ["What is the area of a {shape} with size {size}?", "Compute the area of a {shape}, size {size}."],
    topic: "math"
  },
  {
    name: "lookup_synonyms",
    description: "List synonyms of an English word.",
    params: [p("word", "string", "The word", ["happy", "fast", "bright", "calm", "strong"])],
    requests: ["Give me some synonyms for '{word}'.", "What is another word for {word}?"],
    topic: "language"
  },
  {
    name: "get_movie_showtimes",
    description: "List cinema showtimes for a movie in a city.",
    params: [
      p("movie", "string", "The movie title", ["Red Orbit", "Night Train", "Glass Meadow"]),
      p("city", "string", "The city", CITIES)
    ],
    requests: ["When is {movie} showing in {city}?", "Find showtimes for {movie} in {city}."],
    topic: "movies"
  },
  {
    name: "search_jobs",
    description: "Search job listings by title and location.",
    params: [
      p("title", "string", "The job title", ["nurse", "data analyst", "teacher", "electrician"]),
      p("location", "string", "City", CITIES)
    ],
    requests: ["Find {title} jobs in {location}.", "Are there any openings for a {title} in {location}?"],
    topic: "work"
  },
  {
    name: "get_crypto_price",
    description: "Get the current price of a cryptocurrency in a currency.",
    params: [
      p("coin", "string", "The coin symbol", ["BTC", "ETH", "SOL", "ADA"]),
      p("currency", "string", "The quote currency", CURRENCIES.slice(0, 4), "USD")
    ],
    requests: ["How much is one {coin} in {currency}?", "What is the price of {coin} right now?"],
    topic: "finance"
  },
  {
    name: "plan_route",
    description: "Plan a driving route between two places.",
    params: [
      p("start", "string", "Start location", CITIES),
      p("end", "string", "End location", CITIES),
      p("avoid_tolls", "boolean", "Whether to avoid toll roads", [true, false], "false")
    ],
    requests: [
      "Plan a drive from {start} to {end}.",
      "What is the best route from {start} to {end}, avoiding tolls: {avoid_tolls}?"
    ],
    topic: "travel"
  },
  {
    name: "set_reminder",
    description: "Set a reminder with a message at a time.",
    params: [
      p("message", "string", "The reminder text", ["call mom", "water the plants", "pay rent", "take medicine"]),
      p("time", "string", "Time as HH:MM", ["08:00", "17:30", "21:00"])
    ],
    requests: ["Remind me to {message} at {time}.", "Set a reminder at {time} to {message}."],
    topic: "office"
  },
  {
    name: "count_words",
    description: "Count the words in a piece of text.",
    params: [p("text", "string", "The text", ["the quick brown fox", "to be or not to be", "hello there my friend"])],
    requests: ["How many words are in '{text}'?", "Count the words of this: {text}"],
    topic: "programming"
  },
  {
    name: "sort_numbers",
    description: "Sort a list of numbers in ascending or descending order.",
    params: [
      p("numbers", "string", "The numbers as a JSON array", ["[5,3,9,1]", "[12,4,8]", "[2,7,2,6]"]),
      p("descending", "boolean", "Sort from largest to smallest", [true, false], "false")
    ],
    requests: ["Sort {numbers} please.", "Put {numbers} in order, descending: {descending}."],
    topic: "programming"
  },
  {
    name: "get_nutrition_facts",
    description: "Get calories and nutrients of a food item.",
    params: [p("food", "string", "The food item", ["banana", "oatmeal", "salmon", "almonds", "rice"])],
    requests: ["How many calories are in {food}?", "What are the nutrition facts of {food}?"],
    topic: "health"
  },
  // Tools without parameters.
  {
    name: "Get Current Time",
    description: "Return the current date and time.",
    params: [],
    requests: ["What time is it?", "What is today's date and time?"],
    topic: "time"
  },
  {
    name: "List Trending Topics",
    description: "List the topics that are trending right now.",
    params: [],
    requests: ["What is trending at the moment?", "Show me today's trending topics."],
    topic: "news"
  },
  {
    name: "Random Quote",
    description: "Return a random inspirational quote.",
    params: [],
    requests: ["Give me an inspiring quote.", "I need some motivation. Any quote?"],
    topic: "culture"
  },
  {
    name: "get_server_status",
    description: "Report whether the service servers are online.",
    params: [],
    requests: ["Are the servers up?", "Is the service online right now?"],
    topic: "programming"
  },
  {
    name: "get_user_profile",
    description: "Return the profile of the signed-in user.",
    params: [],
    requests: ["Show me my profile.", "What does my account profile say?"],
    topic: "office"
  },
  {
    name: "Daily Horoscope",
    description: "Return today's horoscope for all signs.",
    params: [],
    requests: ["What does the horoscope say today?", "Read me today's horoscope."],
    topic: "culture"
  },
  {
    name: "list_supported_languages",
    description: "List the languages supported by the translator.",
    params: [],
    requests: ["Which languages can you translate?", "List the supported languages."],
    topic: "language"
  },
  {
    name: "Market Summary",
    description: "Summarize today's stock market movements.",
    params: [],
    requests: ["How is the market doing today?", "Give me a market summary."],
    topic: "finance"
  }
]
