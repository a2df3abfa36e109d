"""The shipped sentences: 12 paraphrase pairs (the eval set) and a separate calibration set.

``PAIRS`` holds two wordings of one meaning each, on 12 different topics, so a sentence encoder
should place ``PAIRS[i][0]`` closer to ``PAIRS[i][1]`` than to any sentence of another pair.
``SENTENCES`` lays them out flat (pair ``i`` at ``2i`` and ``2i + 1``); ``SIMILAR`` and
``DISSIMILAR`` are index pairs into it: every paraphrase pair, and for each pair its first
sentence against the next pair's second one (another topic). ``CALIBRATION`` shares no sentence
with them: everyday sentences of varied length and wording for quantisation calibration.
"""

from __future__ import annotations

PAIRS: tuple[tuple[str, str], ...] = (
    ("A man is playing guitar.", "Someone plays a guitar."),
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("It is raining heavily outside today.", "There is a lot of rain falling this afternoon."),
    ("She is cooking pasta in the kitchen.", "A woman prepares spaghetti for dinner."),
    ("The stock market fell sharply this morning.", "Share prices dropped steeply at the opening."),
    ("How do I reset my password?", "I forgot my password and need to change it."),
    ("The children are playing football in the park.", "Kids kick a soccer ball around on the grass."),
    ("The train to Paris was delayed by an hour.", "Our train to Paris arrived sixty minutes late."),
    ("This laptop's battery drains very quickly.", "The notebook computer runs out of charge fast."),
    ("A dog is running along the beach.", "A puppy races across the sand by the sea."),
    ("The doctor prescribed antibiotics for the infection.", "The physician gave her medicine to treat the infection."),
    ("We planted tomatoes in the garden this spring.", "This spring we grew tomato plants in our backyard."),
)

SENTENCES: tuple[str, ...] = tuple(s for pair in PAIRS for s in pair)

SIMILAR: tuple[tuple[int, int], ...] = tuple((2 * i, 2 * i + 1) for i in range(len(PAIRS)))
DISSIMILAR: tuple[tuple[int, int], ...] = tuple((2 * i, (2 * i + 3) % len(SENTENCES)) for i in range(len(PAIRS)))

CALIBRATION: tuple[str, ...] = (
    "The meeting has been moved to Thursday afternoon.",
    "Please remember to water the plants while I am away.",
    "The museum opens at nine and closes at five.",
    "He bought a new pair of running shoes yesterday.",
    "Mountains covered in snow surround the small village.",
    "Can you recommend a good book about history?",
    "The bakery on the corner sells fresh bread every morning.",
    "Our flight was cancelled because of the storm.",
    "She learned to play the piano when she was seven.",
    "The software update fixed several security problems.",
    "A flock of birds flew over the lake at sunset.",
    "The recipe calls for two cups of flour and one egg.",
    "Traffic on the highway was slow during rush hour.",
    "The team celebrated their victory with a big dinner.",
    "Where is the nearest pharmacy?",
    "The library is quiet in the early morning.",
    "He repaired the broken chair with glue and nails.",
    "Electric cars are becoming more popular in many countries.",
    "The students wrote an essay about climate change.",
    "I would like a cup of coffee with milk, please.",
    "The old bridge was closed for repairs last week.",
    "A young girl is reading a comic book on the bus.",
    "The concert tickets sold out within minutes.",
    "Wind turbines spin slowly on the distant hills.",
    "My phone screen cracked when I dropped it.",
    "The hotel room had a beautiful view of the harbour.",
    "Vegetables are cheaper at the farmers' market.",
    "The painter mixed blue and yellow to make green.",
    "Scientists discovered a new species of frog in the rainforest.",
    "The printer in the office is out of paper again.",
    "Two horses are grazing in a green field.",
    "Thank you for your help with the move!",
)
