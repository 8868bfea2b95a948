arc_easy_test.jsonl.gz and arc_challenge_test.jsonl.gz are adapted from the AI2 Reasoning Challenge (ARC)
dataset, ARC-V1-Feb2018 (Clark et al. 2018, arXiv:1803.05457), by the Allen Institute for AI,
https://allenai.org/data/arc, licensed under the Creative Commons Attribution-ShareAlike 4.0 International
licence (CC BY-SA 4.0), https://creativecommons.org/licenses/by-sa/4.0/.

Changes: only the question stem and the text of the correct choice of each test item are kept (with the item
id), written as jsonl.gz by gristmill's scripts/decon_data.py. These two files are distributed under
CC BY-SA 4.0 as the licence requires; the rest of gristmill is not affected.
