"""Model definitions the zoo needs that no installed package provides."""
