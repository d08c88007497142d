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


# Confusable words inside everyday sentences, for training: what fires on the test streams is "la puerta",
# "fuerte", "ocho por ocho" in running speech, not the words alone. Built from their own templates, disjoint
# from the test set's TEST_CONFUSABLE_SENTENCES (tests/test_splits_and_synthesis.py checks it).
_CONFUSABLE_ACTIONS = ["abrir la puerta", "cerrar la puerta del garaje", "ir al puerto", "cenar a las ocho",
                       "regar el huerto", "hacer un bizcocho", "pintar el porche", "comprar un poncho",
                       "llamar a Pocho", "leer Pinocho", "viajar a Puerto Rico", "aparcar el coche",
                       "cortarse el pelo muy corto", "hablar más fuerte", "arreglar el techo", "salir esta noche",
                       "comer mucho", "pasear por el puerto", "pintar las puertas", "volver a las ocho y media",
                       "plantar tomates en el huerto", "ver el partido de las ocho", "comprar un coche nuevo"]
_CONFUSABLE_OPENINGS = ["", "Por cierto, ", "Oye, ", "Hola, ", "Pues ", "Ya sabes que "]


def confusable_sentences() -> list[str]:
    """Several thousand sentences with a confusable word in running speech (training only)."""
    return [f"{o}{s.lower() if o else s} {v} {a}" for o, s, v, a in
            itertools.product(_CONFUSABLE_OPENINGS, _SUBJECTS, _VERBS, _CONFUSABLE_ACTIONS)]


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


# The test set's own text pool: sentences built from words and templates the training text never uses,
# so false accepts per hour on the test streams measure new talk, not remembered sentences.
_TEST_PEOPLE = ["Mi prima Lucía", "El fontanero", "Aquella señora", "Tu cuñado", "La directora del colegio",
                "Un compañero de clase", "El panadero de la esquina", "Mi tía Carmen", "El portero",
                "La enfermera de guardia", "Un turista despistado", "El entrenador"]
_TEST_DID = ["se olvidó de", "consiguió", "me pidió", "terminó de", "empezó a", "nunca quiso",
             "tuvo que", "dejó de", "volvió a"]
_TEST_THINGS = ["reservar mesa para cenar", "cambiar la rueda del camión", "escribir una carta",
                "subir la montaña", "limpiar el garaje", "buscar las llaves", "vender el piano",
                "recoger a los niños", "montar la tienda de campaña", "traducir el documento",
                "hornear unas galletas", "coser el vestido", "afinar la guitarra", "ordenar el armario"]
_TEST_WHEN = ["ayer por la mañana", "la semana pasada", "hace un rato", "durante las vacaciones",
              "antes del partido", "al salir del cine", "en cuanto amaneció", "el domingo"]
_TEST_SMALL_TALK = [
    "¿Te apetece un café o prefieres un té?", "No encuentro el mando de la tele por ningún lado",
    "Hace un frío tremendo esta mañana", "¿A qué hora sale el tren para Valencia?",
    "Los niños ya están dormidos", "Creo que va a llover toda la semana", "¿Has probado la tortilla de tu abuela?",
    "Tenemos que pagar la factura de la luz", "Mañana tengo una reunión muy temprano",
    "¿Me pasas la sal, por favor?", "Qué bonito está el jardín con las flores", "El perro quiere salir a la calle",
]
_TEST_NEWS = [
    "En el resto del país predominarán los cielos despejados", "El tráfico es intenso en los accesos a la capital",
    "La selección jugará la final el próximo jueves", "Los precios de la vivienda siguen subiendo",
    "Se han registrado fuertes vientos en el litoral", "El festival de cine abre sus puertas esta noche",
    "La huelga de transporte termina sin acuerdo", "Arranca la campaña de vacunación de otoño",
]
# Confusable words inside sentences training never hears.
TEST_CONFUSABLE_SENTENCES = [
    "Por cierto, mañana vamos al puerto", "Le regalé un bizcocho a Pinocho", "Nos vemos el ocho de junio",
    "Puerto Rico tiene unas playas preciosas", "Es un puerto con ocho muelles", "La puerta del huerto está abierta",
    "Por cierto, ¿quién ha cerrado la puerta?", "El muerto se quedó en el huerto", "Pon el poncho en el porche",
    "Tengo ocho entradas para el concierto", "El puerto deportivo está lleno", "Ocho por ocho, sesenta y cuatro",
    "Oye, ¿has visto a Pocho?", "Hola, ¿qué tal está tu tocho de apuntes?", "Ese coche es muy corto",
    "Llegamos al puerto a las ocho y cuarto", "Mi perro se llama Pinocho", "Por cierto, hace mucho frío",
    "Abre la puerta, por favor", "Es un puerco muy gordo", "Eso fue cierto", "Fuerte como un toro",
]
# Wake phrases the test speaks, alone and at the start of a request, as people do.
TEST_WAKE_PHRASES = ["Puertocho", "Hola Puertocho", "Oye Puertocho", "Hola, Puertocho"]
TEST_REQUESTS = ["enciende la luz", "¿qué hora es?", "pon música", "apaga la tele", "sube la calefacción",
                 "¿va a llover mañana?", "para la alarma", "llama a papá", "baja el volumen", "cuéntame algo"]


def test_sentences() -> list[str]:
    """The test set's ordinary sentences (a pool disjoint from everyday_sentences); several thousand."""
    stories = [f"{p} {d} {t} {w}" for p, d, t, w in itertools.product(_TEST_PEOPLE, _TEST_DID, _TEST_THINGS,
                                                                       _TEST_WHEN)]
    return stories + _TEST_SMALL_TALK + _TEST_NEWS


def test_wake_texts(rng: random.Random, count: int, carrier_share: float) -> list[tuple[str, bool]]:
    """count (text, in_carrier) pairs: a wake phrase alone, or followed by a request in the same breath."""
    texts = []
    for _ in range(count):
        phrase = rng.choice(TEST_WAKE_PHRASES)
        if rng.random() < carrier_share:
            texts.append((f"{phrase}, {rng.choice(TEST_REQUESTS)}", True))
        else:
            texts.append((phrase, False))
    return texts
