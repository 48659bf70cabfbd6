// Library B's initializer (no public declarations).
