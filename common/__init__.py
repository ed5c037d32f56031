"""Code both runtimes import (the Rasa server and the app side). Standard library only."""
