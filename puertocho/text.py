"""Spanish text the project writes itself: confusable near-words and ordinary everyday sentences."""
from __future__ import annotations

import itertools
import random

# Words a listener could mistake for "Puertocho", as the field reports them.
CONFUSABLE_WORDS = [
    "Puerto", "Ocho", "Puerta", "Pinocho", "Pocho", "Puerto Rico", "Puertas", "Tocho", "Corto", "Muerto",
    "Huerto", "Puerco", "Cocho", "Bizcocho", "Fuerte", "Pórtico", "Porche", "Poncho", "Pecho", "Mocho",
]

# Systematic near-misses of Puer-to-cho: one syllable changed or dropped.
SYLLABLE_SWAPS = {
    0: ["Muer", "Huer", "Tuer", "Puer", "Pier", "Puen", "Por", "Fuer", "Cuer"],
    1: ["to", "ta", "te", "co", "lo", "ti", "po"],
    2: ["cho", "co", "so", "ño", "to", "ja", "chi", "llo"],
}

# "puerto" and "ocho" inside running speech.
RUNNING_SPEECH_CONFUSABLES = [
    "El puerto abre a las ocho", "Quedamos en el puerto a las ocho", "Hola puerto", "Oye, Pocho",
    "Hola Pinocho", "Oye, ¿has visto el puerto?", "Son las ocho en punto", "Puerta ocho, por favor",
    "El barco llega al puerto", "Tengo ocho años", "Cierra la puerta", "Vivo en Puerto Rico",
    "Oye, ocho", "Hola, Tocho", "Puerto Ocho", "Me gusta el bizcocho", "El huerto está precioso",
]


def near_misses() -> list[str]:
    """Every one-syllable change of Puer-to-cho, plus each syllable dropped, minus the word itself."""
    syllables = ["Puer", "to", "cho"]
    words = set()
    for position, swaps in SYLLABLE_SWAPS.items():
        for swap in swaps:
            candidate = list(syllables)
            candidate[position] = swap
            words.add("".join(candidate).capitalize())
    for dropped in range(3):
        words.add("".join(s for i, s in enumerate(syllables) if i != dropped).capitalize())
    words.discard("Puertocho")
    return sorted(words)


def confusable_texts() -> list[str]:
    """All confusable texts: listed words, near-misses, and running-speech uses."""
    return CONFUSABLE_WORDS + near_misses() + RUNNING_SPEECH_CONFUSABLES


_SUBJECTS = ["Mi hermana", "El vecino", "La profesora", "Mi abuelo", "El médico", "Nuestro equipo",
             "La niña", "Un amigo mío", "El presidente", "La gente del barrio", "Mi jefe", "El cocinero"]
_VERBS = ["quiere", "necesita", "prefiere", "va a", "suele", "no puede", "intenta", "acaba de", "piensa"]
_ACTIONS = ["comprar pan", "llamar al dentista", "ver la película", "leer el periódico", "cocinar paella",
            "pasear al perro", "arreglar la bicicleta", "escuchar la radio", "visitar a su madre",
            "terminar el informe", "regar las plantas", "jugar al fútbol", "aprender inglés", "pintar la casa"]
_TIMES = ["mañana", "esta tarde", "el sábado", "después de comer", "antes de las diez", "en verano",
          "cuando llueva", "el mes que viene", "ahora mismo", "por la noche"]
_COMMANDS = ["Enciende la luz", "Apaga la televisión", "Pon música tranquila", "Sube el volumen",
             "Baja la persiana", "¿Qué tiempo hace hoy?", "Pon una alarma a las siete", "¿Qué hora es?",
             "Llama a mamá", "Añade leche a la lista de la compra", "Cuéntame un chiste",
             "¿Cuánto tarda el autobús?", "Reproduce las noticias", "Para la música", "Abre la persiana"]
_TV = ["Buenas noches y bienvenidos al telediario", "Las temperaturas subirán en el norte del país",
       "El equipo local ganó el partido por dos goles a uno", "Y ahora, la previsión del tiempo",
       "La bolsa cerró hoy con ligeras pérdidas", "Les dejamos con la publicidad",
       "El concierto comenzará a las nueve de la noche", "Hay retenciones en la autovía del sur",
       "Mañana se espera lluvia en la costa", "El alcalde inauguró el nuevo parque",
       "Gracias por acompañarnos una semana más", "Continúa la ola de calor en el interior"]
_PLACES = ["en la cocina", "en el salón", "en el trabajo", "en el mercado", "en la playa", "en el coche",
           "en el parque", "en la oficina", "en casa de mis padres", "en la estación"]


def everyday_sentences() -> list[str]:
    """Several hundred varied Spanish sentences: plans, assistant commands, TV talk, small talk."""
    plans = [f"{s} {v} {a} {t}" for s, v, a, t in itertools.product(_SUBJECTS, _VERBS, _ACTIONS, _TIMES)]
    commands = [f"{c} {p}" for c, p in itertools.product(_COMMANDS, _PLACES)] + _COMMANDS
    questions = [f"¿Sabes si {s.lower()} {v} {a}?" for s, v, a in itertools.product(_SUBJECTS, _VERBS, _ACTIONS)]
    return plans + commands + _TV + questions


def split_sentences(sentences: list[str], holdout_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle and split into (training, held-out) so the long evaluation stream says new things."""
    shuffled = list(sentences)
    random.Random(seed).shuffle(shuffled)
    n_holdout = max(1, int(len(shuffled) * holdout_fraction))
    return shuffled[n_holdout:], shuffled[:n_holdout]
