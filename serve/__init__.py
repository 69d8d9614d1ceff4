"""What a web server needs and a library does not: the admission of heavy jobs (admission), results shared
between sessions (shared), and the Training lab's background runs with their typed status (runner). It may
import core; core never imports it."""
