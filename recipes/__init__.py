"""Recipes: declarative YAML files (shipped here as package data) that say which stages run,
in which order, with which settings. `loader.py` reads and checks them; the stage sections are
checked by each stage's own validator (factory.pipeline.recipe.validate_recipe).

Exercise: `factory recipes list`, `factory run quickstart --out runs/quickstart`.
"""

from factory.recipes.loader import Recipe, list_recipes, load_recipe, recipe_path

__all__ = ["Recipe", "list_recipes", "load_recipe", "recipe_path"]
